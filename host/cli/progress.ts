// Progress for long deletes/creates: one self-overwriting line on stderr, only when stderr is a
// terminal (scripts and pipes see nothing), at most ~10 updates a second, erased when done.
export class Progress {
  private last = 0;
  private shown = false;
  private readonly tty: boolean;

  constructor(private readonly verb: string, private readonly total?: number, stream: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(stream.isTTY) && !process.env.CI;
    this.stream = stream;
  }

  private readonly stream: NodeJS.WriteStream;

  update(done: number): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const of = this.total ? `/${this.total}` : '';
    this.stream.write(`\r${this.verb} ${done}${of} entries...`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
