// `import text from "../LICENSE" with { type: "text" }`: Bun gives the file's contents.
declare module "*LICENSE" {
  const text: string;
  export default text;
}
