// A Server-Sent Events parser for fetch() streams (EventSource cannot POST
// or send an Authorization header). It follows the WHATWG event stream
// rules: lines end in LF, CR or CRLF; "field: value" with one optional
// space; a blank line dispatches; lines starting with ":" are comments.

export class SSEParser {
  // onEvent({id, event, data}) gets each event: id is the event's own id
  // line or null, event defaults to "message". onComment(text) gets
  // comments such as ": keepalive".
  constructor(onEvent, onComment) {
    this.onEvent = onEvent;
    this.onComment = onComment || (() => {});
    this.buf = '';
    this.lastEventId = '';
    this.start();
  }

  start() { this.data = []; this.event = ''; this.id = null; }

  // push feeds decoded text; a line cut between chunks waits for the rest.
  push(text) {
    this.buf += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A CR at the very end may be the first half of a CRLF.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length || this.event) {
        this.onEvent({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.start();
      return;
    }
    if (line[0] === ':') { this.onComment(line.slice(1).trimStart()); return; }
    const i = line.indexOf(':');
    const name = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value[0] === ' ') value = value.slice(1);
    switch (name) {
      case 'data': this.data.push(value); break;
      case 'event': this.event = value; break;
      case 'id': if (!value.includes('\0')) { this.id = value; this.lastEventId = value; } break;
      default: break; // retry and unknown fields are ignored
    }
  }
}

// readEvents reads a fetch Response body as SSE until it ends, calling
// onEvent for each event. It resolves when the server closes the stream
// and rejects when the connection fails or signal aborts.
export async function readEvents(res, onEvent, onComment) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const p = new SSEParser(onEvent, onComment);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      p.push(value);
    }
  } finally {
    reader.releaseLock();
  }
}
