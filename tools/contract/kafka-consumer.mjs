// A third-party Kafka consumer (kafkajs 2.2.4, no codec plugins) reads every
// topic of a running ticketd's cluster from the beginning, in a consumer
// group of its own, and checks each message against docs/events.md: envelope
// v1 fields, the Kafka key and headers, and the payload fields of the
// event catalogue (documented fields present, no undocumented ones).
//
//   node kafka-consumer.mjs BOOTSTRAP TYPE[,TYPE…]
// Waits (deadline 60 s) until every listed event type has been read.
// Run by tests/contract/conformance_e2e_test.cpp after conformance.mjs.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const [bootstrap, typesArg] = process.argv.slice(2);
if (!bootstrap || !typesArg) { console.error('usage: node kafka-consumer.mjs BOOTSTRAP TYPE[,TYPE…]'); process.exit(2); }
const expectedTypes = new Set(typesArg.split(','));

// The event catalogue of docs/events.md: type → {topic, fields}.
const here = path.dirname(fileURLToPath(import.meta.url));
const eventsMd = fs.readFileSync(path.join(here, '../../docs/events.md'), 'utf8');
const catalogue = new Map();
let previous;
for (const line of eventsMd.split('\n')) {
  const m = /^\| `(\w+)` \| (\w+)[^|]*\|[^|]*\|([^|]*)\|/.exec(line);
  if (!m) continue;
  const [, type, producer, meaning] = m;
  let fields;
  const p = /Payload v1 `\{([^}]*)\}`/.exec(meaning);
  const above = /Payload v1 as above \+ `(\w+)`/.exec(meaning);
  if (p) fields = p[1].split(',').map(s => s.trim().split(':')[0].trim()).filter(Boolean);
  else if (above && previous) fields = [...previous.fields, above[1]];
  else continue;
  previous = { topic: `${producer}.events`, fields };
  catalogue.set(type, previous);
}
for (const t of expectedTypes) if (!catalogue.has(t)) { console.error(`docs/events.md has no payload for ${t}`); process.exit(2); }

const failures = [];
const seen = new Map(); // type → count
const correlations = new Map(); // reservationId → Set(correlationId)
const envelopeKeys = ['envelope', 'eventId', 'eventType', 'aggregateType', 'aggregateId', 'version', 'occurredAt', 'metadata', 'payload'];
const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkMessage(topic, message) {
  const where = `${topic}@${message.offset}`;
  let e;
  try { e = JSON.parse(message.value.toString('utf8')); } catch { return failures.push(`${where}: value is not JSON`); }
  const keys = Object.keys(e).sort();
  if (JSON.stringify(keys) !== JSON.stringify([...envelopeKeys].sort())) failures.push(`${where}: envelope keys ${keys}`);
  if (e.envelope !== 1) failures.push(`${where}: envelope ${e.envelope}`);
  if (!uuidRe.test(e.eventId ?? '')) failures.push(`${where}: eventId ${e.eventId}`);
  if (!Number.isInteger(e.version) || e.version < 1) failures.push(`${where}: version ${e.version}`);
  if (Number.isNaN(Date.parse(e.occurredAt)) || !/T.*(Z|[+-]\d\d:\d\d)$/.test(e.occurredAt)) failures.push(`${where}: occurredAt ${e.occurredAt}`);
  if (e.metadata !== null) {
    for (const k of ['correlationId', 'causationId', 'userId']) {
      if (!(k in e.metadata) || (e.metadata[k] !== null && typeof e.metadata[k] !== 'string')) failures.push(`${where}: metadata.${k}`);
    }
  }
  if (message.key?.toString('utf8') !== e.aggregateId) failures.push(`${where}: key ${message.key} ≠ aggregateId ${e.aggregateId}`);
  const header = k => message.headers?.[k]?.toString('utf8');
  if (header('event-id') !== e.eventId) failures.push(`${where}: header event-id`);
  if (header('event-type') !== e.eventType) failures.push(`${where}: header event-type`);
  if (header('event-version') !== String(e.version)) failures.push(`${where}: header event-version ${header('event-version')}`);
  if (header('aggregate-type') !== e.aggregateType) failures.push(`${where}: header aggregate-type`);
  const doc = catalogue.get(e.eventType);
  if (!doc) failures.push(`${where}: ${e.eventType} is not in docs/events.md`);
  else {
    if (doc.topic !== topic) failures.push(`${where}: ${e.eventType} documented on ${doc.topic}`);
    const have = Object.keys(e.payload ?? {});
    const missing = doc.fields.filter(f => !have.includes(f));
    const extra = have.filter(f => !doc.fields.includes(f));
    if (missing.length || extra.length) failures.push(`${where}: ${e.eventType} payload missing [${missing}] undocumented [${extra}]`);
  }
  seen.set(e.eventType, (seen.get(e.eventType) ?? 0) + 1);
  const rid = e.payload?.reservationId;
  if (rid && e.metadata?.correlationId) {
    if (!correlations.has(rid)) correlations.set(rid, new Set());
    correlations.get(rid).add(e.metadata.correlationId);
  }
}

const kafka = new Kafka({ clientId: 'contract-kafkajs', brokers: bootstrap.split(','), logLevel: logLevel.WARN });
const admin = kafka.admin();
await admin.connect();
const topics = (await admin.listTopics()).filter(t => !t.startsWith('__')).sort();
await admin.disconnect();
for (const t of ['catalog.events', 'reservation.events', 'payment.events', 'queue.events']) {
  if (!topics.includes(t)) failures.push(`topic ${t} does not exist`);
}

const consumer = kafka.consumer({ groupId: `contract-kafkajs-${process.pid}-${Date.now()}` });
let crashed;
consumer.on(consumer.events.CRASH, e => { crashed = e.payload.error; });
await consumer.connect();
await consumer.subscribe({ topics, fromBeginning: true });
await consumer.run({ eachMessage: async ({ topic, message }) => checkMessage(topic, message) });

const until = Date.now() + 60000;
while (Date.now() < until && !crashed && ![...expectedTypes].every(t => seen.has(t))) {
  await new Promise(r => setTimeout(r, 100));
}
await consumer.disconnect();
if (crashed) failures.push(`consumer crashed: ${crashed.stack ?? crashed}`);
for (const t of expectedTypes) if (!seen.has(t)) failures.push(`never read a ${t}`);

console.log(`kafkajs read ${topics.length} topics (${topics.join(', ')})`);
for (const [t, n] of [...seen].sort()) console.log(`  ${t}: ${n}`);
// One booking, one correlation id: every event about a reservation carries
// the reservation's id (docs/events.md, "Metadata").
for (const [rid, ids] of correlations) {
  if (ids.size > 1 || !ids.has(rid)) {
    failures.push(`reservation ${rid}: correlation ids ${[...ids].join(', ')} (want only the reservation id)`);
  }
}
if (correlations.size === 0) failures.push('no event named a reservation: the correlation check saw nothing');
console.log(`  ${correlations.size} bookings checked for one correlation id each`);
for (const f of failures) console.log(`FAIL ${f}`);
console.log(failures.length === 0 ? 'kafka: every message matches docs/events.md' : `kafka: ${failures.length} failures`);
process.exit(failures.length === 0 ? 0 : 1);
