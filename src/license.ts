// The LICENSE file's text, for `-i`. Imported as text, so `bun build --compile` embeds it: the
// single-file binary prints it without the checkout.
import license_file_text from "../LICENSE" with { type: "text" };

export const license_text: string = license_file_text;
