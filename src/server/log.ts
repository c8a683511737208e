/** The logging the server's parts need; the pino logger `serve` makes is one. */
export interface Log {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
