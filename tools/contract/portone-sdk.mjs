// PortOne's own server SDK (@portone/server-sdk, pinned) against ticketd's
// sandbox gateway, with the sandbox's listener as the SDK's base URL, exactly
// as a merchant would point it at https://api.portone.io. Every answer is
// validated against JSON Schemas generated from the SDK's own TypeScript
// types (ts-json-schema-generator): a field the SDK's type requires and we
// omit, or one the type does not know, fails. Covered: preRegisterPayment,
// getPayment in every status the sandbox reaches (READY, PAID, FAILED,
// CANCELLED), cancelPayment and its errors, and Webhook.verify on the
// webhooks the sandbox really sent (read back from the payment's `webhooks`
// history, PortOne's format).
//
//   node portone-sdk.mjs SANDBOX_BASE_URL [API_SECRET] [WEBHOOK_SECRET] [STORE_ID]
// Run by tests/contract/portone_sdk_e2e_test.cpp (ctest), which starts ticketd.
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { PortOneClient, Webhook } from '@portone/server-sdk';

const [base, secret = 'sandbox-api-secret', whsec = 'whsec_dGlja2V0ZC1zYW5kYm94LXdlYmhvb2stc2VjcmV0',
  storeId = 'store-ticketd-sandbox'] = process.argv.slice(2);
if (!base) { console.error('usage: node portone-sdk.mjs SANDBOX_BASE_URL [API_SECRET] [WEBHOOK_SECRET] [STORE_ID]'); process.exit(2); }

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = path.join(here, 'node_modules/@portone/server-sdk/dist/generated');
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push(what); };

// ---- the SDK's types as JSON Schemas --------------------------------------------------------
function schemaOf(file, type) {
  return createGenerator({ path: path.join(sdk, file), type, skipTypeCheck: true, expose: 'export', topRef: true })
    .createSchema(type);
}
const ajv = new Ajv({ allErrors: true, strict: false });
const schemas = {
  Payment: schemaOf('payment/Payment.d.ts', 'Payment'),
  CancelPaymentResponse: schemaOf('payment/CancelPaymentResponse.d.ts', 'CancelPaymentResponse'),
  PreRegisterPaymentResponse: schemaOf('payment/PreRegisterPaymentResponse.d.ts', 'PreRegisterPaymentResponse'),
  Webhook: schemaOf('webhook/Webhook.d.ts', 'Webhook'),
};
// One definition of a generated schema (e.g. PaidPayment), with its siblings.
function validator(schema, definition) {
  return ajv.compile({ ...schema, $ref: `#/definitions/${definition}` });
}
const byStatus = {
  READY: validator(schemas.Payment, 'ReadyPayment'),
  PAID: validator(schemas.Payment, 'PaidPayment'),
  FAILED: validator(schemas.Payment, 'FailedPayment'),
  CANCELLED: validator(schemas.Payment, 'CancelledPayment'),
};
const cancelResponse = validator(schemas.CancelPaymentResponse, 'CancelPaymentResponse');
const preRegisterResponse = validator(schemas.PreRegisterPaymentResponse, 'PreRegisterPaymentResponse');
const webhookOf = {
  'Transaction.Paid': validator(schemas.Webhook, 'WebhookTransactionPaid'),
  'Transaction.Failed': validator(schemas.Webhook, 'WebhookTransactionFailed'),
  'Transaction.Cancelled': validator(schemas.Webhook, 'WebhookTransactionCancelledCancelled'),
};
function conforms(validate, value, what) {
  const ok = validate(value);
  check(ok, `${what}: does not match the SDK's type: ${ajv.errorsText(validate.errors)}\n  ${JSON.stringify(value)}`);
  return ok;
}

// ---- the SDK against the sandbox ------------------------------------------------------------
const client = PortOneClient({ secret, baseUrl: base, storeId });
const payment = client.payment;
const id = (name) => `sdk-${name}-${crypto.randomUUID()}`;
// The customer's step (the payment window; not part of the server SDK).
async function pay(paymentId, body) {
  const res = await fetch(new URL(`/payments/${encodeURIComponent(paymentId)}/pay`, base),
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  check(res.ok, `pay ${paymentId}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}
async function refused(promise, type, what) {
  try {
    await promise;
    check(false, `${what}: succeeded, expected ${type}`);
  } catch (e) {
    check(e?.data?.type === type, `${what}: expected ${type}, got ${e?.data?.type ?? e}`);
  }
}
async function getPayment(paymentId, status) {
  const p = await payment.getPayment({ paymentId });
  check(p.status === status, `getPayment ${paymentId}: status ${p.status}, expected ${status}`);
  conforms(byStatus[status], p, `getPayment (${status})`);
  return p;
}
// The webhook of `type` the sandbox sent for a payment, once delivered
// (waits with a deadline), verified by the SDK from the recorded request.
async function verifiedWebhook(paymentId, type) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const p = await payment.getPayment({ paymentId });
    const sent = (p.webhooks ?? []).filter((w) => w.status !== undefined
      && JSON.parse(w.request.body).type === type);
    if (sent.length > 0) {
      const w = sent[0];
      const headers = Object.fromEntries(w.request.header.split('\n').filter(Boolean).map((l) => {
        const i = l.indexOf(':');
        return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
      }));
      const verified = await Webhook.verify(whsec, w.request.body, headers);
      conforms(webhookOf[type], verified, `Webhook.verify (${type})`);
      check(verified.data.paymentId === paymentId, `${type}: data.paymentId ${verified.data.paymentId}`);
      check(verified.data.storeId === storeId, `${type}: data.storeId ${verified.data.storeId}`);
      // A tampered body must not verify.
      try {
        await Webhook.verify(whsec, w.request.body.replace(paymentId, `${paymentId}x`), headers);
        check(false, `${type}: a tampered body verified`);
      } catch (e) {
        check(e instanceof Webhook.WebhookVerificationError, `${type}: tampered body: ${e}`);
      }
      return verified;
    }
    if (Date.now() > deadline) {
      check(false, `${type} for ${paymentId}: no delivered webhook within 15 s (${JSON.stringify(p.webhooks ?? [])})`);
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// READY → PAID → CANCELLED, with the order's name and the customer from the payment window.
const a = id('paid');
conforms(preRegisterResponse, await payment.preRegisterPayment({ paymentId: a, totalAmount: 55000, currency: 'KRW' }),
  'preRegisterPayment');
const ready = await getPayment(a, 'READY');
check(ready.amount.total === 55000, `READY amount.total ${ready.amount.total}`);
await pay(a, { card: '4242424242424242', orderName: 'Aurora Live · 2 seats', customer: { id: 'customer-1', name: 'Kim Min-ji' } });
const paid = await getPayment(a, 'PAID');
check(paid.orderName === 'Aurora Live · 2 seats', `orderName ${paid.orderName}`);
check(paid.customer?.id === 'customer-1', `customer ${JSON.stringify(paid.customer)}`);
check(paid.amount.paid === 55000, `PAID amount.paid ${paid.amount.paid}`);
check(paid.version === 'V2' && typeof paid.merchantId === 'string', 'version/merchantId');
await verifiedWebhook(a, 'Transaction.Paid');
await refused(payment.preRegisterPayment({ paymentId: a, totalAmount: 55000 }), 'ALREADY_PAID', 'preRegister of a paid payment');
await refused(payment.cancelPayment({ paymentId: a, reason: 'too much', amount: 55001 }),
  'CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT', 'cancel above the paid amount');
await refused(payment.cancelPayment({ paymentId: a, reason: 'stale view', currentCancellableAmount: 1000 }),
  'CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN', 'cancel with a stale cancellable amount');
const cancelled = await payment.cancelPayment({ paymentId: a, reason: 'customer request', requester: 'CUSTOMER',
  currentCancellableAmount: 55000 });
conforms(cancelResponse, cancelled, 'cancelPayment');
check(cancelled.cancellation.status === 'SUCCEEDED' && cancelled.cancellation.totalAmount === 55000,
  `cancellation ${JSON.stringify(cancelled.cancellation)}`);
const after = await getPayment(a, 'CANCELLED');
check(after.cancellations?.[0]?.id === cancelled.cancellation.id, 'CANCELLED lists the cancellation');
const cancelledHook = await verifiedWebhook(a, 'Transaction.Cancelled');
check(cancelledHook?.data.cancellationId === cancelled.cancellation.id,
  `Transaction.Cancelled data.cancellationId ${cancelledHook?.data.cancellationId}`);
await refused(payment.cancelPayment({ paymentId: a, reason: 'again' }), 'PAYMENT_ALREADY_CANCELLED', 'second cancel');

// READY → FAILED (card declined).
const b = id('declined');
await payment.preRegisterPayment({ paymentId: b, totalAmount: 12000 });
await pay(b, { card: '4000000000000002' });
const failed = await getPayment(b, 'FAILED');
check(typeof failed.failure?.reason === 'string', `FAILED failure ${JSON.stringify(failed.failure)}`);
await verifiedWebhook(b, 'Transaction.Failed');
await refused(payment.cancelPayment({ paymentId: b, reason: 'nothing to cancel' }), 'PAYMENT_NOT_PAID', 'cancel of a failed payment');

// A cancel that asks for no webhook sends none.
const c = id('quiet');
await payment.preRegisterPayment({ paymentId: c, totalAmount: 3000 });
await pay(c, { card: '4242424242424242', webhook: false });
await payment.cancelPayment({ paymentId: c, reason: 'quiet', skipWebhook: true });
const quiet = await getPayment(c, 'CANCELLED');
check((quiet.webhooks ?? []).length === 0, `skipWebhook / webhook:false sent ${JSON.stringify(quiet.webhooks)}`);

// Unknown payments, another store, a wrong secret.
const missing = id('missing');
await refused(payment.getPayment({ paymentId: missing }), 'PAYMENT_NOT_FOUND', 'getPayment of an unknown payment');
await refused(payment.cancelPayment({ paymentId: missing, reason: 'x' }), 'PAYMENT_NOT_FOUND', 'cancel of an unknown payment');
await refused(payment.getPayment({ paymentId: a, storeId: 'store-someone-else' }), 'PAYMENT_NOT_FOUND',
  'getPayment under another store');
await refused(PortOneClient({ secret: 'wrong-secret', baseUrl: base }).payment.getPayment({ paymentId: a }),
  'UNAUTHORIZED', 'a wrong API secret');
await refused(payment.preRegisterPayment({ paymentId: id('forbidden'), totalAmount: 1, storeId: 'store-someone-else' }),
  'FORBIDDEN', 'preRegister under another store');

if (failures.length > 0) {
  for (const f of failures) console.log(`FAIL ${f}`);
  console.log(`portone-sdk: ${failures.length} of ${checks} checks failed`);
  process.exit(1);
}
console.log(`portone-sdk: @portone/server-sdk against the sandbox at ${base}: all ${checks} checks passed`);
