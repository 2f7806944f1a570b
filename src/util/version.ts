// The package's version, one place for the CLI, the server's / and /get_server_info.
export const VERSION = "0.1.0";
