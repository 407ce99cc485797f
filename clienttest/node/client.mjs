// Runs one npm SSE client against a stream and reports what the
// application would see, one JSON object per line on stdout:
//   {"type":"open"}                          a connection opened
//   {"type":"event","name","data","id"}      an event dispatched
//   {"type":"error","message"}               the client reported an error
// Every line carries "at", milliseconds since the epoch.
//
// Usage: node client.mjs eventsource|fetch-event-source <url> <name,name...>
// The names are the event types to listen for besides "message"; an
// EventSource dispatches named events only to their own listeners.

import { EventSource } from 'eventsource';
import { fetchEventSource } from '@microsoft/fetch-event-source';

const [kind, url, names = ''] = process.argv.slice(2);

function report(obj) {
  process.stdout.write(JSON.stringify({ ...obj, at: Date.now() }) + '\n');
}

function runEventSource() {
  const es = new EventSource(url);
  es.onopen = () => report({ type: 'open' });
  es.onerror = (e) => report({ type: 'error', message: String(e?.message ?? '') });
  const deliver = (e) => report({ type: 'event', name: e.type, data: e.data, id: e.lastEventId });
  es.onmessage = deliver;
  for (const name of names.split(',').filter(Boolean)) {
    es.addEventListener(name, deliver);
  }
}

// fetch-event-source is written for browsers: it watches the page's
// visibility and uses window's timers. Give it what it touches.
function runFetchEventSource() {
  globalThis.window ??= globalThis;
  globalThis.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} };
  class RetriableError extends Error {}
  fetchEventSource(url, {
    fetch: globalThis.fetch,
    openWhenHidden: true,
    async onopen(resp) {
      if (resp.status !== 200) {
        throw new Error(`status ${resp.status}`);
      }
      report({ type: 'open' });
    },
    onmessage(msg) {
      report({ type: 'event', name: msg.event || 'message', data: msg.data, id: msg.id });
    },
    onclose() {
      // The server ended the stream (a reload, max_duration): reconnect.
      // fetch-event-source resolves and stops unless onclose throws.
      throw new RetriableError('stream ended');
    },
    onerror(err) {
      report({ type: 'error', message: String(err?.message ?? err) });
      if (!(err instanceof RetriableError) && !(err instanceof TypeError)) {
        throw err;
      }
      // Returning nothing waits for the server's retry: interval.
    },
  }).catch((err) => {
    report({ type: 'error', message: 'gave up: ' + String(err?.message ?? err) });
    process.exit(1);
  });
}

switch (kind) {
  case 'eventsource':
    runEventSource();
    break;
  case 'fetch-event-source':
    runFetchEventSource();
    break;
  default:
    process.stderr.write(`unknown client ${kind}\n`);
    process.exit(2);
}
