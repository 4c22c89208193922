// Constant replies of the memcached text protocol, encoded once at load.
const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

export const Reply = {
  STORED: encode("STORED\r\n"),
  NOT_STORED: encode("NOT_STORED\r\n"),
  EXISTS: encode("EXISTS\r\n"),
  NOT_FOUND: encode("NOT_FOUND\r\n"),
  DELETED: encode("DELETED\r\n"),
  TOUCHED: encode("TOUCHED\r\n"),
  END: encode("END\r\n"),
  OK: encode("OK\r\n"),
  RESET: encode("RESET\r\n"),
  ERROR: encode("ERROR\r\n"),
  MN: encode("MN\r\n"),
  CRLF: encode("\r\n"),
  BAD_DATA_CHUNK: encode("CLIENT_ERROR bad data chunk\r\n"),
  TOO_LARGE: encode("SERVER_ERROR object too large for cache\r\n"),
  NO_MEMORY: encode("SERVER_ERROR out of memory storing object\r\n"),
  DELTA_NO_MEMORY: encode("SERVER_ERROR out of memory\r\n"),
  NON_NUMERIC: encode("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
  SHUTDOWN_DISABLED: encode("ERROR: shutdown not enabled\r\n"),
  SHUTDOWN_BAD_MODE: encode("CLIENT_ERROR invalid shutdown mode\r\n"),
  TOO_MANY_CONNECTIONS: encode("ERROR Too many open connections\r\n"),
  SLABS_USAGE: encode("CLIENT_ERROR usage: slabs reassign|automove <args>\r\n"),
  LINE_TOO_LONG: encode("CLIENT_ERROR line too long\r\n"),
} as const;
