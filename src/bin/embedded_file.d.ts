// `import path from "….so" with { type: "file" }`: Bun gives the embedded file's path.
declare module "*.so" {
  const path: string;
  export default path;
}
