// Entry of the single-file server binary (`bun run build` → dist/repcached): embeds the native
// library built by `npm install` (Bun stores the imported file inside the binary and gives its
// path), hands that path to library.ts, then runs the server as src/main.ts does from a checkout.
import embedded_library_path from "../../zig-out/lib/librepcache.so" with { type: "file" };
import { libraryEmbed } from "../native/library.ts";

libraryEmbed(embedded_library_path);
await import("../main.ts"); // after libraryEmbed: a static import would run main.ts first
