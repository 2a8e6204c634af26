// Response conformance: exercises every operation of the OpenAPI document the
// server itself serves (/api/v1/openapi.json) against a running ticketd, and
// validates every answer with Ajv (JSON Schema 2020-12, OpenAPI 3.1's
// dialect): the status must be declared for the operation, the content type
// must be one the operation declares for that status, and the body must match
// its schema. Object schemas are closed for the check (an undeclared field
// fails; allOf is merged first), so the document lists every field we send.
// At the end every operationId must have been exercised.
//
//   node conformance.mjs http://127.0.0.1:PORT
// Needs a freshly seeded server (`ticketd seed`): the demo admin and venue.
// Run by tests/contract/conformance_e2e_test.cpp (ctest), which starts one.
import crypto from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const base = process.argv[2];
if (!base) { console.error('usage: node conformance.mjs BASE_URL'); process.exit(2); }
const kWebhookSecret = process.env.TD_WEBHOOK_SECRET ?? 'whsec_dGlja2V0ZC1zYW5kYm94LXdlYmhvb2stc2VjcmV0';
const kSandboxSecret = process.env.TD_SANDBOX_API_SECRET ?? 'sandbox-api-secret';

const failures = [];
const exercised = new Map(); // operationId → Set of statuses seen

// ---- the document, closed for validation -----------------------------------------------------
const doc = await (await fetch(`${base}/api/v1/openapi.json`)).json();
const components = doc.components ?? {};

function resolve(ref) {
  const parts = ref.replace(/^#\//, '').split('/');
  let node = doc;
  for (const p of parts) node = node[p.replace(/~1/g, '/').replace(/~0/g, '~')];
  if (node === undefined) throw new Error(`unresolvable $ref ${ref}`);
  return node;
}

// allOf of object schemas → one object schema (properties and required merged).
function mergeAllOf(schema) {
  const out = { type: 'object', properties: {}, required: [] };
  for (let member of schema.allOf) {
    if (member.$ref) member = resolve(member.$ref);
    if (member.allOf) member = mergeAllOf(member);
    Object.assign(out.properties, member.properties ?? {});
    out.required.push(...(member.required ?? []));
  }
  for (const [k, v] of Object.entries(schema)) if (k !== 'allOf') out[k] = v;
  return out;
}

// Deep copy: $refs to components go to the "c" schema; objects with
// properties and no additionalProperties/unevaluatedProperties get closed.
function closed(schema) {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  if (schema.allOf && schema.allOf.every(m => m.$ref || m.type === 'object' || m.properties)) schema = mergeAllOf(schema);
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$ref') out.$ref = v.replace('#/components/schemas/', 'c#/$defs/');
    else if (k === 'properties' || k === '$defs' || k === 'patternProperties') {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, closed(s)]));
    } else if (k === 'example' || k === 'examples') out[k] = v;
    else out[k] = closed(v);
  }
  if (out.properties && out.additionalProperties === undefined && out.unevaluatedProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'c', $defs: Object.fromEntries(Object.entries(components.schemas ?? {}).map(([n, s]) => [n, closed(s)])) });

const operations = new Map(); // operationId → {method, template, regex, op}
for (const [template, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!op.operationId) continue;
    const regex = new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+') + '$');
    operations.set(op.operationId, { method: method.toUpperCase(), template, regex, op });
  }
}

const validators = new Map();
function validatorFor(key, schema) {
  if (!validators.has(key)) validators.set(key, ajv.compile(closed(schema)));
  return validators.get(key);
}

function check(opId, method, path, status, contentType, text) {
  const entry = operations.get(opId);
  const where = `${opId} ${method} ${path} → ${status}`;
  if (!entry) return failures.push(`${where}: no such operationId in the document`);
  if (entry.method !== method || !entry.regex.test(path.split('?')[0])) {
    return failures.push(`${where}: not ${entry.method} ${entry.template}`);
  }
  if (!exercised.has(opId)) exercised.set(opId, new Set());
  exercised.get(opId).add(status);
  let declared = entry.op.responses?.[String(status)];
  if (!declared) return failures.push(`${where}: status not declared (declared: ${Object.keys(entry.op.responses ?? {}).join(', ')})`);
  if (declared.$ref) declared = resolve(declared.$ref);
  const content = declared.content;
  if (!content) {
    if (text.length > 0) failures.push(`${where}: a body where none is declared: ${text.slice(0, 200)}`);
    return;
  }
  const media = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (!content[media]) return failures.push(`${where}: content type "${media}" not declared (${Object.keys(content).join(', ')})`);
  const schema = content[media].schema;
  if (!schema) return;
  let value = text;
  if (media.endsWith('json')) {
    try { value = JSON.parse(text); } catch { return failures.push(`${where}: body is not JSON: ${text.slice(0, 200)}`); }
  }
  const validate = validatorFor(`${opId} ${status} ${media}`, schema);
  if (!validate(value)) {
    failures.push(`${where}: body does not match the schema: ${ajv.errorsText(validate.errors, { separator: '; ' })}\n    body: ${text.slice(0, 400)}`);
  }
}

// One call: fetch, then check against the operation. Returns {status, body, headers, text}.
async function call(opId, method, path, { token, body, headers = {}, raw, expect } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) { payload = JSON.stringify(body); h['Content-Type'] ??= 'application/json'; }
  const res = await fetch(`${base}${path}`, { method, headers: h, body: payload });
  const text = await res.text();
  check(opId, method, path, res.status, res.headers.get('content-type'), text);
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  if (expect !== undefined && ![expect].flat().includes(res.status)) {
    throw new Error(`${opId} ${method} ${path}: expected ${expect}, got ${res.status}: ${text.slice(0, 400)}`);
  }
  return { status: res.status, body: json, headers: res.headers, text };
}

async function eventually(what, fn, timeoutMs = 30000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

const api = p => `/api/v1${p}`;
const uuid = () => crypto.randomUUID();
const iso = ms => new Date(Date.now() + ms).toISOString();
const H = 3600_000;

// ---- the walk ---------------------------------------------------------------------------------
async function main() {
  // operations
  await call('healthz', 'GET', '/healthz', { expect: 200 });
  await call('readyz', 'GET', '/readyz', { expect: 200 });
  await call('metrics', 'GET', '/metrics', { expect: 200 });
  await call('openapiDocument', 'GET', api('/openapi.json'), { expect: 200 });
  await call('apiDocsPage', 'GET', '/docs', { expect: 200 });
  const css = await call('apiDocsAsset', 'GET', '/docs/swagger-ui.css', { expect: 200 });
  await call('apiDocsAsset', 'GET', '/docs/swagger-ui.css', { headers: { 'If-None-Match': css.headers.get('etag') }, expect: 304 });
  await call('apiDocsAsset', 'GET', '/docs/swagger-ui-bundle.js?v=1', { expect: 200 });
  await call('apiDocsAsset', 'GET', '/docs/swagger-initializer.js', { expect: 200 });
  await call('apiDocsAsset', 'GET', '/docs/favicon-32x32.png', { expect: 200 });
  await call('apiDocsAsset', 'GET', '/docs/swagger-ui.js.map', { expect: 404 });

  // auth: accounts
  const terms = (await call('listTerms', 'GET', api('/terms'), { expect: 200 })).body.items;
  const agreed = terms.filter(t => t.required).map(t => ({ type: t.type, version: t.version }));
  let person = 0;
  async function newUser() {
    person += 1;
    const phone = `010-${String(4000 + person).padStart(4, '0')}-${String(Date.now() % 10000).padStart(4, '0')}`;
    const iv = await call('startIdentityVerification', 'POST', api('/auth/identity-verifications'),
      { body: { name: `Conformance ${person}`, phone, birthDate: '1990-01-0' + ((person % 9) + 1) }, expect: 201 });
    const email = `conf-${person}-${uuid().slice(0, 8)}@example.com`;
    await call('register', 'POST', api('/auth/register'), {
      body: { email, password: 'conformance-pass-1', name: `Conformance ${person}`, phone, termsAgreed: agreed,
              captchaToken: 'test-pass', identityVerificationId: iv.body.identityVerificationId }, expect: 201 });
    const pair = (await call('login', 'POST', api('/auth/login'),
      { body: { email, password: 'conformance-pass-1', captchaToken: 'test-pass' }, expect: 200 })).body;
    return { email, token: pair.accessToken, refresh: pair.refreshToken };
  }
  const alice = await newUser();
  await call('register', 'POST', api('/auth/register'), { body: { email: 'x' }, expect: 400 });
  await call('login', 'POST', api('/auth/login'), { raw: 'email=a', headers: { 'Content-Type': 'text/plain' }, expect: 415 });
  await call('login', 'POST', api('/auth/login'),
    { body: { email: alice.email, password: 'wrong-password-1', captchaToken: 'test-pass' }, expect: 401 });
  await call('getMe', 'GET', api('/users/me'), { token: alice.token, expect: 200 });
  await call('getMe', 'GET', api('/users/me'), { expect: 401 });
  await call('updateMe', 'PATCH', api('/users/me'), { token: alice.token, body: { name: 'Alice Conformance' }, expect: 200 });
  await call('updateMe', 'PATCH', api('/users/me'), { token: alice.token, body: { role: 'ADMIN' }, expect: 400 });
  const rotated = await call('refresh', 'POST', api('/auth/refresh'), { body: { refreshToken: alice.refresh }, expect: 200 });
  alice.token = rotated.body.accessToken;
  await call('changePassword', 'PUT', api('/users/me/password'),
    { token: alice.token, body: { currentPassword: 'conformance-pass-1', newPassword: 'conformance-pass-2' }, expect: 204 });
  await call('changePassword', 'PUT', api('/users/me/password'),
    { token: alice.token, body: { currentPassword: 'not-it-at-all', newPassword: 'conformance-pass-3' }, expect: 422 });

  // catalog-admin: venue, hall, events
  const admin = (await call('login', 'POST', api('/auth/login'),
    { body: { email: 'admin@ticketd.local', password: 'ticketd-admin-dev', captchaToken: 'test-pass' }, expect: 200 })).body.accessToken;
  const venues = await call('listVenues', 'GET', api('/venues'), { expect: 200 });
  await call('getVenue', 'GET', api(`/venues/${venues.body.items[0].venueId}`), { expect: 200 });
  await call('getVenue', 'GET', api(`/venues/${uuid()}`), { expect: 404 });
  const venue = (await call('createVenue', 'POST', api('/admin/venues'),
    { token: admin, body: { name: `Conformance Hall ${uuid().slice(0, 6)}`, address: 'Seoul' }, expect: 201 })).body;
  await call('createVenue', 'POST', api('/admin/venues'), { token: alice.token, body: { name: 'nope' }, expect: 403 });
  await call('updateVenue', 'PUT', api(`/admin/venues/${venue.venueId}`),
    { token: admin, body: { name: venue.name, address: 'Seoul, Songpa-gu' }, expect: 200 });
  const template = { sections: [{ name: 'A', rows: [{ row: '1', seats: 10, grade: 'VIP' }, { row: '2', seats: 10, grade: 'R', disabled: [5] }] }] };
  const hall = (await call('createHall', 'POST', api(`/admin/venues/${venue.venueId}/halls`),
    { token: admin, body: { name: 'Main', seatTemplate: template }, expect: 201 })).body;
  await call('createHall', 'POST', api(`/admin/venues/${venue.venueId}/halls`),
    { token: admin, body: { name: 'Broken', seatTemplate: { sections: [{ name: 'A', rows: [{ row: '1', seats: 0, grade: 'VIP' }] }] } }, expect: [400, 422] });
  await call('getHall', 'GET', api(`/admin/venues/${venue.venueId}/halls/${hall.hallId}`), { token: admin, expect: 200 });
  await call('updateHall', 'PUT', api(`/admin/venues/${venue.venueId}/halls/${hall.hallId}`),
    { token: admin, body: { name: 'Main Hall', seatTemplate: template }, expect: 200 });
  const spare = (await call('createHall', 'POST', api(`/admin/venues/${venue.venueId}/halls`),
    { token: admin, body: { name: 'Spare', seatTemplate: template }, expect: 201 })).body;
  await call('deleteHall', 'DELETE', api(`/admin/venues/${venue.venueId}/halls/${spare.hallId}`), { token: admin, expect: 204 });
  const spareVenue = (await call('createVenue', 'POST', api('/admin/venues'), { token: admin, body: { name: `Spare ${uuid().slice(0, 6)}` }, expect: 201 })).body;
  await call('deleteVenue', 'DELETE', api(`/admin/venues/${spareVenue.venueId}`), { token: admin, expect: 204 });

  const eventInput = (title, saleOffset) => ({
    venueId: venue.venueId, hallId: hall.hallId, title, artist: 'The Validators',
    saleStartsAt: iso(saleOffset), saleEndsAt: iso(48 * H), startsAt: iso(72 * H), endsAt: iso(75 * H),
    prices: { VIP: 150000, R: 90000 }, queue: { admissionRatePerSecond: 1000, maxActive: 1000 },
  });
  const event = (await call('createEvent', 'POST', api('/admin/events'), { token: admin, body: eventInput('Conformance Live', -H), expect: 201 })).body;
  if (event.minPrice !== 90000 || event.maxPrice !== 150000) failures.push(`createEvent: minPrice/maxPrice ${event.minPrice}/${event.maxPrice}`);
  await call('createEvent', 'POST', api('/admin/events'), { token: admin, body: { ...eventInput('Bad', -H), endsAt: iso(-H) }, expect: 422 });
  await call('updateEvent', 'PUT', api(`/admin/events/${event.eventId}`), { token: admin, body: { title: 'Conformance Live!' }, expect: 200 });
  await call('updateEvent', 'PUT', api(`/admin/events/${event.eventId}`), { token: admin, body: { prices: { VIP: 1, R: 1 } }, expect: 409 });
  await call('getEvent', 'GET', api(`/events/${event.eventId}`), { expect: 200 });
  await call('getEvent', 'GET', api(`/events/${uuid()}`), { expect: 404 });
  await call('listEvents', 'GET', api('/events?status=ON_SALE&size=5'), { expect: 200 });
  await call('listEvents', 'GET', api('/events?size=1000'), { expect: 400 });
  const later = (await call('createEvent', 'POST', api('/admin/events'), { token: admin, body: eventInput('Later', 24 * H), expect: 201 })).body;
  await call('deleteEvent', 'DELETE', api(`/admin/events/${later.eventId}`), { token: admin, expect: 204 });
  const doomed = (await call('createEvent', 'POST', api('/admin/events'), { token: admin, body: eventInput('Doomed', 24 * H), expect: 201 })).body;
  await call('cancelEvent', 'POST', api(`/admin/events/${doomed.eventId}/cancel`), { token: admin, body: { reason: 'conformance' }, expect: 200 });
  await call('deleteHall', 'DELETE', api(`/admin/venues/${venue.venueId}/halls/${hall.hallId}`), { token: admin, expect: 409 });

  const map = await call('getSeatMap', 'GET', api(`/events/${event.eventId}/seats`), { token: alice.token, expect: 200 });
  await call('getSeatMap', 'GET', api(`/events/${event.eventId}/seats`),
    { token: alice.token, headers: { 'If-None-Match': map.headers.get('etag') }, expect: 304 });
  await call('getSeatMap', 'GET', api(`/events/${event.eventId}/seats`), { expect: 401 });
  const seats = map.body.seats.map(s => s.seatId);

  // queue
  const q = api(`/queue/${event.eventId}`);
  async function admitted(user) {
    await call('enterQueue', 'POST', `${q}/enter`, { token: user.token, expect: 200 });
    return eventually('admission', async () => (await call('queueStatus', 'GET', `${q}/status`, { token: user.token, expect: 200 })).body.reservationToken);
  }
  await call('enterQueue', 'POST', api(`/queue/${uuid()}/enter`), { token: alice.token, expect: 404 });
  await call('queueStatus', 'GET', api('/queue/not-a-uuid/status'), { token: alice.token, expect: 400 });
  const aliceQr = await admitted(alice);
  {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 15000);
    const res = await fetch(`${base}${q}/stream`, { headers: { Authorization: `Bearer ${alice.token}` }, signal: ctl.signal });
    let text = '';
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    while (!/^event: .*\n(.*\n)*?\n/m.test(text)) {  // up to the first whole event, as EventSource reads
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    ctl.abort();
    clearTimeout(timer);
    check('queueStream', 'GET', `${q}/stream`, res.status, res.headers.get('content-type'), '');
    if (!/^event: (admitted|position)/m.test(text)) failures.push(`queueStream: no event in ${JSON.stringify(text.slice(0, 200))}`);
  }
  await call('queueStats', 'GET', api(`/admin/queue/${event.eventId}`), { token: admin, expect: 200 });
  await call('updateQueueSettings', 'PUT', api(`/admin/queue/${event.eventId}`), { token: admin, body: { admissionRatePerSecond: 500 }, expect: 200 });
  await call('updateQueueSettings', 'PUT', api(`/admin/queue/${event.eventId}`), { token: admin, body: { paused: 'yes' }, expect: 400 });

  // reservation
  const hold = (await call('holdSeats', 'POST', api('/reservations/hold'), {
    token: alice.token, headers: { 'X-Queue-Token': aliceQr, 'Idempotency-Key': uuid() },
    body: { eventId: event.eventId, seatIds: [seats[0], seats[1]] }, expect: 201 })).body;
  await call('holdSeats', 'POST', api('/reservations/hold'), {
    token: alice.token, headers: { 'X-Queue-Token': 'qr_forged', 'Idempotency-Key': uuid() },
    body: { eventId: event.eventId, seatIds: [seats[2]] }, expect: 403 });
  await call('changeHold', 'PUT', api(`/reservations/hold/${hold.reservationId}`),
    { token: alice.token, body: { seatIds: [seats[0]] }, expect: 200 });
  await call('getReservation', 'GET', api(`/reservations/${hold.reservationId}`), { token: alice.token, expect: 200 });
  await call('getReservation', 'GET', api(`/reservations/${uuid()}`), { token: alice.token, expect: 404 });
  await call('listReservations', 'GET', api('/reservations?status=PENDING'), { token: alice.token, expect: 200 });

  // payment through the sandbox gateway
  const payment = (await call('createPayment', 'POST', api('/payments'), {
    token: alice.token, headers: { 'X-Queue-Token': hold.paymentToken },
    body: { reservationId: hold.reservationId, paymentKey: uuid() }, expect: 201 })).body;
  await call('createPayment', 'POST', api('/payments'), {
    token: alice.token, headers: { 'X-Queue-Token': 'qp_forged' },
    body: { reservationId: hold.reservationId, paymentKey: uuid() }, expect: 403 });
  const pg = `/sandbox/pg/payments/${payment.paymentId}`;
  const portone = { Authorization: `PortOne ${kSandboxSecret}` };
  await call('sandboxGetPayment', 'GET', pg, { headers: portone, expect: 200 });
  await call('sandboxGetPayment', 'GET', pg, { headers: { Authorization: 'PortOne wrong' }, expect: 401 });
  await call('sandboxGetPayment', 'GET', `/sandbox/pg/payments/${uuid()}`, { headers: portone, expect: 404 });
  await call('sandboxPreRegister', 'POST', `${pg}/pre-register`,
    { headers: portone, body: { storeId: payment.gateway.storeId, totalAmount: payment.amount, currency: 'KRW' }, expect: 200 });
  await call('sandboxPay', 'POST', `${pg}/pay`, { body: { card: '1234' }, expect: 400 });
  await call('sandboxPay', 'POST', `${pg}/pay`, { body: { card: '4242424242424242', webhook: false }, expect: 200 });
  await call('sandboxPay', 'POST', `${pg}/pay`, { body: { card: '4242424242424242', webhook: false }, expect: 409 });
  await call('sandboxPreRegister', 'POST', `${pg}/pre-register`, { headers: portone, body: { totalAmount: 1 }, expect: 409 });
  await call('getPayment', 'GET', api(`/payments/${payment.paymentId}`), { token: alice.token, expect: 200 });
  const confirmed = (await call('confirmPayment', 'POST', api(`/payments/${payment.paymentId}/confirm`), { token: alice.token, expect: 200 })).body;
  if (confirmed.status !== 'SUCCESS') failures.push(`confirmPayment: status ${confirmed.status}`);
  {
    const body = JSON.stringify({ type: 'Transaction.Paid', timestamp: new Date().toISOString(),
      data: { paymentId: payment.paymentId, storeId: payment.gateway.storeId, transactionId: uuid() } });
    const id = `msg_${uuid()}`;
    const ts = String(Math.floor(Date.now() / 1000));
    const key = Buffer.from(kWebhookSecret.replace(/^whsec_/, ''), 'base64');
    const sig = crypto.createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
    const wh = api('/payments/webhooks/portone');
    await call('portoneWebhook', 'POST', wh, { raw: body, headers: { 'Content-Type': 'application/json', 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` }, expect: 200 });
    await call('portoneWebhook', 'POST', wh, { raw: body, headers: { 'Content-Type': 'application/json', 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': 'v1,AAAA' }, expect: 401 });
  }
  await eventually('CONFIRMED', async () => (await call('getReservation', 'GET', api(`/reservations/${hold.reservationId}`), { token: alice.token, expect: 200 })).body.status === 'CONFIRMED');
  await call('listPayments', 'GET', api('/payments'), { token: alice.token, expect: 200 });
  await call('refundPayment', 'POST', api(`/admin/payments/${payment.paymentId}/refund`), { token: admin, body: { reason: 'conformance' }, expect: 200 });
  await call('refundPayment', 'POST', api(`/admin/payments/${payment.paymentId}/refund`), { token: alice.token, expect: 403 });
  await eventually('REFUNDED', async () => (await call('getPayment', 'GET', api(`/payments/${payment.paymentId}`), { token: alice.token, expect: 200 })).body.status === 'REFUNDED');
  await call('sandboxGetPayment', 'GET', pg, { headers: portone, expect: 200 });
  await call('sandboxCancel', 'POST', `${pg}/cancel`, { headers: portone, body: { reason: 'again' }, expect: 409 });
  await call('sandboxCancel', 'POST', `${pg}/cancel`, { headers: portone, body: {}, expect: 400 });
  {
    // A payment of the gateway's own (not ticketd's): paid, then cancelled.
    const own = `/sandbox/pg/payments/conformance-${uuid()}`;
    await call('sandboxPay', 'POST', `${own}/pay`, { body: { card: '4000000000000002', amount: 1000, webhook: false }, expect: 200 });
    await call('sandboxGetPayment', 'GET', own, { headers: portone, expect: 200 });
    await call('sandboxCancel', 'POST', `${own}/cancel`, { headers: portone, body: { reason: 'declined' }, expect: 409 });
    const paid = `/sandbox/pg/payments/conformance-${uuid()}`;
    await call('sandboxPay', 'POST', `${paid}/pay`, { body: { card: '4242424242424242', amount: 1000, webhook: false }, expect: 200 });
    await call('sandboxCancel', 'POST', `${paid}/cancel`, { headers: portone, body: { reason: 'conformance' }, expect: 200 });
    await call('sandboxCancel', 'POST', `/sandbox/pg/payments/${uuid()}/cancel`, { headers: portone, body: { reason: 'x' }, expect: 404 });
  }
  await call('cancelReservation', 'POST', api(`/reservations/${hold.reservationId}/cancel`), { token: alice.token, expect: 200 });

  // a second customer: cancel a pending hold; a third: release one; a fourth: leave, withdraw
  const bob = await newUser();
  const bobQr = await admitted(bob);
  const bobHold = (await call('holdSeats', 'POST', api('/reservations/hold'), {
    token: bob.token, headers: { 'X-Queue-Token': bobQr, 'Idempotency-Key': uuid() },
    body: { eventId: event.eventId, seatIds: [seats[3]] }, expect: 201 })).body;
  await call('holdSeats', 'POST', api('/reservations/hold'), {
    token: bob.token, headers: { 'X-Queue-Token': bobQr, 'Idempotency-Key': uuid() },
    body: { eventId: event.eventId, seatIds: [seats[4]] }, expect: 403 });
  await call('cancelReservation', 'POST', api(`/reservations/${bobHold.reservationId}/cancel`),
    { token: bob.token, headers: { 'Idempotency-Key': uuid() }, expect: 200 });
  const carol = await newUser();
  const carolQr = await admitted(carol);
  const carolHold = (await call('holdSeats', 'POST', api('/reservations/hold'), {
    token: carol.token, headers: { 'X-Queue-Token': carolQr, 'Idempotency-Key': uuid() },
    body: { eventId: event.eventId, seatIds: [seats[3]] }, expect: 201 })).body;
  await call('releaseHold', 'DELETE', api(`/reservations/hold/${carolHold.reservationId}`), { token: carol.token, expect: 204 });
  await call('changeHold', 'PUT', api(`/reservations/hold/${carolHold.reservationId}`),
    { token: carol.token, body: { seatIds: [seats[5]] }, expect: 409 });
  const dave = await newUser();
  await call('enterQueue', 'POST', `${q}/enter`, { token: dave.token, expect: 200 });
  await call('leaveQueue', 'DELETE', q, { token: dave.token, expect: 204 });
  await call('leaveQueue', 'DELETE', q, { token: dave.token, expect: 404 });
  await call('queueStatus', 'GET', `${q}/status`, { token: dave.token, expect: 404 });
  await call('clearQueue', 'POST', api(`/admin/queue/${event.eventId}/clear`), { token: admin, expect: 200 });
  await call('logout', 'POST', api('/auth/logout'), { token: carol.token, body: { allSessions: true }, expect: 204 });
  await call('getMe', 'GET', api('/users/me'), { token: carol.token, expect: 401 });
  await call('withdraw', 'DELETE', api('/users/me'), { token: dave.token, expect: 204 });
}

try {
  await main();
} catch (e) {
  failures.push(`aborted: ${e.stack ?? e}`);
}
const missing = [...operations.keys()].filter(id => !exercised.has(id));
for (const id of missing) failures.push(`${id}: never exercised`);
for (const [id, statuses] of [...exercised].sort()) console.log(`  ${id}: ${[...statuses].sort().join(' ')}`);
const calls = [...exercised.values()].reduce((n, s) => n + s.size, 0);
console.log(`${exercised.size}/${operations.size} operations, ${calls} (operation, status) pairs checked`);
for (const f of failures) console.log(`FAIL ${f}`);
console.log(failures.length === 0 ? "conformance: every answer conforms" : `conformance: ${failures.length} failures`);
process.exit(failures.length === 0 ? 0 : 1);
