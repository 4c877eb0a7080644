#!/usr/bin/env node
// A small SMSC (SMPP 3.4 server) on loopback for hotline's tests and benchmark.
//
// Usage: node smsc.js [--port 0] [--system-id hotline] [--password secret]
//                     [--receipt-delay-ms 20] [--quiet-submits]
// Prints one JSON object per line on stdout; the first is {"event":"listening","port":N}.
// Takes one JSON command per line on stdin:
//   {"cmd":"drop"}                                   close every session now
//   {"cmd":"drop_after","n":5,"ack":true}            drop after the n-th next submit_sm
//                                                    (after answering it when ack is true)
//   {"cmd":"stall","on":true}                        stop answering submit_sm (lost responses)
//   {"cmd":"throttle","n":3}                         answer the next n submits ESME_RTHROTTLED
//   {"cmd":"reject","dest":"139...","status":11}     answer submits to dest with this error
//   {"cmd":"receipt","dest":"139...","stat":"UNDELIV"} receipt state for dest (default DELIVRD)
//   {"cmd":"deliver","from":"138...","to":"12345","text":"你好"}  resident texts us (UCS-2)
//       or "hex":"..." with "data_coding" and "esm_class" for raw bytes (UDH parts, bad input)
//       Like a real SMSC, a message whose deliver_sm_resp never came (the ESME died or the
//       line dropped) is delivered again on the next bind.
//   {"cmd":"redeliver"}                              deliver the last message again, as an SMSC
//                                                    does when our deliver_sm_resp came too late
//   {"cmd":"raw","hex":"..."}                        write raw bytes to every bound session
//   {"cmd":"stats"}                                  print counters
// The test reads the log lines to assert what the "carrier" saw.
'use strict';
const smpp = require('smpp');
const readline = require('readline');

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : dflt;
}
const flag = (name) => args.includes('--' + name);
const PORT = parseInt(opt('port', '0'), 10);
const SYSTEM_ID = opt('system-id', 'hotline');
const PASSWORD = opt('password', 'secret');
const RECEIPT_DELAY = parseInt(opt('receipt-delay-ms', '20'), 10);
const QUIET = flag('quiet-submits'); // benchmark: count submits, do not log each one

const idPrefix = Date.now().toString(36) + process.pid.toString(36);
let nextId = 1;
let rr = 0;
let dropAfter = null; // {n, ack}
let stall = false;
let throttle = 0;
const rejects = new Map(); // dest -> status
const receiptStat = new Map(); // dest -> stat
const bound = new Set();
const unanswered = new Map(); // deliver id -> pdu fields, until an answer comes
let nextDeliver = 1;
let lastDeliver = null;
const stats = { submits: 0, acked: 0, receipts: 0, delivers: 0 };

function log(obj) {
  obj.t = Date.now();
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function smDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
    p(d.getUTCHours()) + p(d.getUTCMinutes());
}

function sendReceipt(session, pdu, messageId) {
  const stat = receiptStat.get(pdu.destination_addr) || 'DELIVRD';
  const now = smDate(new Date());
  const text = `id:${messageId} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} ` +
    `submit date:${now} done date:${now} stat:${stat} err:000 text:`;
  const states = { DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8 };
  session.deliver_sm({
    source_addr: pdu.destination_addr,
    destination_addr: pdu.source_addr,
    esm_class: 0x04,
    data_coding: 0,
    short_message: Buffer.from(text, 'ascii'),
    receipted_message_id: messageId,
    message_state: states[stat] || 7,
  }, (resp) => log({ event: 'receipt_resp', message_id: messageId, status: resp.command_status }));
  stats.receipts++;
  log({ event: 'receipt', message_id: messageId, stat, dest: pdu.destination_addr });
}

function onSubmit(session, pdu) {
  stats.submits++;
  const sm = pdu.short_message || {};
  const udh = (sm.udh || []).map((b) => b.toString('hex')).join('');
  const entry = {
    event: 'submit_sm', seq: pdu.sequence_number, source: pdu.source_addr,
    dest: pdu.destination_addr, data_coding: pdu.data_coding, esm_class: pdu.esm_class,
    registered_delivery: pdu.registered_delivery, udh,
    text: typeof sm.message === 'string' ? sm.message : Buffer.from(sm.message || []).toString('hex'),
  };
  let status = 0;
  if (rejects.has(pdu.destination_addr)) status = rejects.get(pdu.destination_addr);
  else if (throttle > 0) { throttle--; status = 0x58; }
  let drop = false;
  if (dropAfter) {
    dropAfter.n--;
    if (dropAfter.n <= 0) { drop = true; }
  }
  const ack = !stall && (!drop || dropAfter.ack);
  if (ack) {
    const messageId = status === 0 ? idPrefix + '-' + (nextId++) : '';
    entry.message_id = messageId;
    entry.status = status;
    entry.acked = true;
    // When dropping after the answer, close gracefully (FIN) once it is written, so the
    // answer reaches the client; a reset could discard it.
    session.send(pdu.response({ command_status: status, message_id: messageId }), drop ? () => {
      session.socket.end();
      setTimeout(() => session.destroy(), 300);
    } : undefined);
    stats.acked++;
    if (status === 0 && (pdu.registered_delivery & 0x01)) {
      setTimeout(() => { if (bound.has(session)) sendReceipt(session, pdu, messageId); }, RECEIPT_DELAY);
    }
  } else {
    entry.acked = false;
  }
  if (!QUIET) log(entry);
  if (drop) {
    log({ event: 'dropping', after_ack: dropAfter.ack });
    session.dropped = true;
    bound.delete(session);
    if (!dropAfter.ack) {
      // Answers already written still go out (FIN, not reset); this one never will.
      session.socket.end();
      setTimeout(() => session.destroy(), 300);
    }
    dropAfter = null;
  }
}

const server = smpp.createServer((session) => {
  session.on('error', (e) => log({ event: 'session_error', error: String(e && e.message) }));
  session.on('bind_transceiver', (pdu) => {
    const ok = pdu.system_id === SYSTEM_ID && pdu.password === PASSWORD;
    log({ event: 'bind', system_id: pdu.system_id, ok });
    if (!ok) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      setTimeout(() => session.close(), 50);
      return;
    }
    session.send(pdu.response({ system_id: 'SIMSMSC' }));
    bound.add(session);
    if (unanswered.size) setTimeout(() => redeliverUnanswered(session), 200);
  });
  session.on('enquire_link', (pdu) => { session.send(pdu.response()); });
  session.on('unbind', (pdu) => {
    log({ event: 'unbind' });
    session.send(pdu.response());
    bound.delete(session);
    setTimeout(() => session.close(), 20);
  });
  session.on('submit_sm', (pdu) => {
    if (session.dropped) return; // the line is being cut: nothing more is taken
    if (!bound.has(session)) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    onSubmit(session, pdu);
  });
  session.on('deliver_sm_resp', (pdu) => {
    log({ event: 'deliver_sm_resp', seq: pdu.sequence_number, status: pdu.command_status });
  });
  session.on('generic_nack', (pdu) => log({ event: 'generic_nack', seq: pdu.sequence_number }));
  session.on('close', () => { bound.delete(session); log({ event: 'close' }); });
});
server.on('error', (e) => { log({ event: 'server_error', error: String(e.message) }); process.exit(2); });
server.listen(PORT, '127.0.0.1', () => log({ event: 'listening', port: server.address().port }));

function command(c) {
  switch (c.cmd) {
    case 'drop':
      for (const s of server.sessions.slice()) s.destroy();
      log({ event: 'dropped' });
      break;
    case 'drop_after': dropAfter = { n: c.n || 1, ack: c.ack !== false }; break;
    case 'stall': stall = !!c.on; break;
    case 'throttle': throttle = c.n || 1; break;
    case 'reject': rejects.set(c.dest, c.status || 0x0B); break;
    case 'receipt': receiptStat.set(c.dest, c.stat || 'DELIVRD'); break;
    case 'deliver': {
      const sm = c.hex !== undefined ? Buffer.from(c.hex, 'hex')
        : Buffer.from(String(c.text || ''), 'utf16le').swap16();
      const pdu = {
        source_addr: c.from, destination_addr: c.to || '12345',
        esm_class: c.esm_class || 0, data_coding: c.data_coding !== undefined ? c.data_coding : 8,
        short_message: sm,
      };
      lastDeliver = { id: nextDeliver++, from: c.from, pdu };
      deliver(lastDeliver, 'delivered');
      break;
    }
    case 'redeliver':
      if (lastDeliver) deliver(lastDeliver, 'redelivered');
      else log({ event: 'nothing_to_redeliver' });
      break;
    case 'raw':
      for (const s of bound) s.socket.write(Buffer.from(c.hex, 'hex'));
      log({ event: 'raw_sent' });
      break;
    case 'stats': log(Object.assign({ event: 'stats' }, stats)); break;
    default: log({ event: 'unknown_cmd', cmd: c.cmd });
  }
}

// One session gets a message, as a real SMSC does with several binds (round robin). Until
// the ESME answers it is "unanswered"; an error answer is retried (up to 3 times), a session
// that closes first leaves it for the next bind.
function deliver(m, event) {
  const attempt = (s, left) => {
    m.session = s;
    unanswered.set(m.id, m);
    s.deliver_sm(Object.assign({}, m.pdu), (resp) => {
      log({ event: 'deliver_resp', from: m.from, id: m.id, status: resp.command_status });
      if (resp.command_status === 0) {
        unanswered.delete(m.id);
      } else if (left > 0) {
        setTimeout(() => { if (bound.has(s)) attempt(s, left - 1); }, 500);
      } else {
        unanswered.delete(m.id);
      }
    });
  };
  const sessions = [...bound];
  if (sessions.length) attempt(sessions[rr++ % sessions.length], 3);
  else { m.session = null; unanswered.set(m.id, m); }
  stats.delivers++;
  log({ event, from: m.from, id: m.id, sessions: sessions.length ? 1 : 0 });
}

function redeliverUnanswered(session) {
  for (const m of [...unanswered.values()]) {
    if (!bound.has(session)) return;
    if (m.session && bound.has(m.session)) continue; // still in flight on a live session
    log({ event: 'redelivering', from: m.from, id: m.id });
    deliver(m, 'redelivered');
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  try { command(JSON.parse(line)); } catch (e) { log({ event: 'bad_cmd', error: String(e.message) }); }
}).on('close', () => { /* keep serving when stdin closes */ });
