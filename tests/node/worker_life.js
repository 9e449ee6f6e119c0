// Drives the official TaskRouter Worker SDK (npm twilio-taskrouter) through a worker's life against
// the emulator. Run by tests/test_worker_sdk.py: argv[2] is a JSON setup
// {url, accountSid, authToken, workspaceSid, workerSid, token, activities: {name: sid}, scenario, ...}.
// Prints one JSON line {ok, steps} on stdout; any failed expectation exits 1 with the reason.
'use strict';
const { Worker } = require('twilio-taskrouter');

const setup = JSON.parse(process.argv[2]);
const steps = [];
// generous: a loaded machine must not fail a step that takes milliseconds when idle
const STEP_TIMEOUT_MS = 20000;

function log(step, detail) { steps.push(detail === undefined ? step : { step, ...detail }); }

function fail(message) {
  process.stdout.write(JSON.stringify({ ok: false, error: message, steps }) + '\n');
  process.exit(1);
}

function expect(cond, message) { if (!cond) fail(message); }

function once(emitter, event, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what || event}`)), STEP_TIMEOUT_MS);
    emitter.once(event, (...args) => { clearTimeout(timer); resolve(args[0]); });
  });
}

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

async function activityBecomes(name) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let worker;
  do {
    await sleep(100);
    worker = await rest('GET', `Workers/${setup.workerSid}`);
  } while (worker.activity_name !== name && Date.now() < deadline);
  return worker;
}

async function rest(method, path, form) {
  const auth = Buffer.from(`${setup.accountSid}:${setup.authToken}`).toString('base64');
  const response = await fetch(`${setup.url}/v1/Workspaces/${setup.workspaceSid}/${path}`, {
    method,
    headers: { Authorization: `Basic ${auth}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${body.message}`);
  return body;
}

function newWorker(token, options = {}) {
  return new Worker(token, {
    ebServer: `${setup.url}/v1/wschannels`,
    wsServer: `${setup.url.replace(/^http/, 'ws')}/v1/wschannels`,
    logLevel: 'silent',
    ...options,
  });
}

async function life() {
  const worker = newWorker(setup.token, { connectActivitySid: setup.activities.Available });
  const activityUpdated = once(worker, 'activityUpdated', 'activityUpdated after connectActivitySid');
  const ready = await once(worker, 'ready', 'ready');
  expect(ready.sid === setup.workerSid, `ready worker ${ready.sid}`);
  expect(ready.activities.size === 3, `3 activities, got ${ready.activities.size}`);
  expect(ready.channels.size === 5, `5 channels, got ${ready.channels.size}`);
  log('ready', { activity: ready.activity.name });
  const updated = await activityUpdated;
  expect(updated.activity.name === 'Available', `activity after connect: ${updated.activity.name}`);
  log('activityUpdated', { activity: updated.activity.name, available: updated.available });

  // a task routed to the worker: reservation.created with the embedded task
  let created = once(worker, 'reservationCreated', 'reservationCreated');
  const task1 = await rest('POST', 'Tasks', { Attributes: JSON.stringify({ topic: 'billing' }) });
  let reservation = await created;
  expect(reservation.task.sid === task1.sid, 'reservation for the created task');
  expect(reservation.task.attributes.topic === 'billing', 'embedded task attributes');
  expect(reservation.status === 'pending', `pending, got ${reservation.status}`);
  expect(reservation.task.queueName === 'Sample Queue', `queue name ${reservation.task.queueName}`);
  log('reservationCreated', { status: reservation.status, version: reservation.version });

  // accept (listeners attached first: how long the event trails the reply is no part of the test)
  const acceptedPromise = once(reservation, 'accepted', 'reservation accepted event');
  const accepted = await reservation.accept();
  expect(accepted.status === 'accepted', `accept() resolved with ${accepted.status}`);
  const acceptedEvent = await acceptedPromise;
  expect(Number(acceptedEvent.version) === Number(reservation.version), 'version after accept');
  log('accepted', { status: accepted.status, version: accepted.version });

  // wrap-up and complete the task
  const wrapupEvent = once(reservation.task, 'wrapup', 'task wrapup event');
  const wrapped = await reservation.task.wrapUp({ reason: 'call ended' });
  expect(wrapped.status === 'wrapping', `task wrapUp -> ${wrapped.status}`);
  await wrapupEvent;
  log('wrapup', { status: wrapped.status });
  const completedEvent = once(reservation, 'completed', 'reservation completed event');
  const completed = await reservation.task.complete('resolved');
  expect(completed.status === 'completed', `task complete -> ${completed.status}`);
  const finished = await completedEvent;
  expect(finished.status === 'completed', `reservation completed, got ${finished.status}`);
  log('completed', { task: completed.status, reservation: finished.status });

  // a second task: reject it
  created = once(worker, 'reservationCreated', 'second reservationCreated');
  const task2 = await rest('POST', 'Tasks', { Attributes: JSON.stringify({ topic: 'sales' }) });
  reservation = await created;
  expect(reservation.task.sid === task2.sid, 'second reservation for the second task');
  const rejectedEvent = once(reservation, 'rejected', 'reservation rejected event');
  const rejected = await reservation.reject();
  expect(rejected.status === 'rejected', `reject() resolved with ${rejected.status}`);
  await rejectedEvent;
  log('rejected', { status: rejected.status });

  // attributes through the bridge (a JSON object, not a string)
  const withAttributes = await worker.setAttributes({ languages: ['en', 'fr'] });
  expect(withAttributes.attributes.languages[1] === 'fr', 'worker attributes round-trip');
  log('attributes', { attributes: withAttributes.attributes });

  // presence: the last session closes, the worker goes offline within a second
  worker.disconnect();
  const fetched = await activityBecomes('Offline');  // within a second when the machine is idle
  expect(fetched.activity_name === 'Offline', `after disconnect: ${fetched.activity_name}`);
  log('offline', { activity: fetched.activity_name });
}

async function stayOnline() {
  // setWorkerOfflineIfDisconnected: false leaves the activity alone
  const worker = newWorker(setup.token, { connectActivitySid: setup.activities.Available,
                                          setWorkerOfflineIfDisconnected: false });
  const updated = once(worker, 'activityUpdated', 'activityUpdated');
  await once(worker, 'ready', 'ready');
  await updated;
  // a second session of the same worker (default: offline when disconnected); closing it while
  // the first is open leaves the worker as it is
  const second = newWorker(setup.token);
  await once(second, 'ready', 'second ready');
  second.disconnect();
  await sleep(1000);
  let fetched = await rest('GET', `Workers/${setup.workerSid}`);
  expect(fetched.activity_name === 'Available', `after closing one of two sessions: ${fetched.activity_name}`);
  log('one of two closed', { activity: fetched.activity_name });
  worker.disconnect();
  await sleep(1000);
  fetched = await rest('GET', `Workers/${setup.workerSid}`);
  expect(fetched.activity_name === 'Available', `after disconnect: ${fetched.activity_name}`);
  log('stayed', { activity: fetched.activity_name });
}

async function tokenRefused() {
  for (const [name, token] of Object.entries(setup.badTokens)) {
    const worker = newWorker(token);
    let ready = false;
    worker.on('ready', () => { ready = true; });
    const error = await once(worker, 'error', `error for ${name} token`);
    worker.disconnect();
    expect(!ready, `${name} token: the worker became ready`);
    log('refused', { token: name, error: error && (error.name || error.message) });
  }
}

async function queueTransfer() {
  // Alice holds a task and transfers it to a queue; Bob, in that queue, gets the offer and rejects
  // it (a failed attempt: the transfer stays initiated), then Alice withdraws the transfer
  const alice = newWorker(setup.token, { connectActivitySid: setup.activities.Available });
  await once(alice, 'ready', 'alice ready');
  const created = once(alice, 'reservationCreated', 'alice reservationCreated');
  await rest('POST', 'Tasks', { Attributes: JSON.stringify({ topic: 'escalation' }) });
  const held = await created;
  await held.accept();
  const bob = newWorker(setup.bobToken, { connectActivitySid: setup.activities.Available });
  await once(bob, 'ready', 'bob ready');
  const offered = once(bob, 'reservationCreated', 'the transfer offer to bob');
  const initiated = once(held.task, 'transferInitiated', 'transferInitiated');
  await held.task.transfer(setup.queueSid, { mode: 'WARM' });
  const outgoing = await initiated;
  expect(outgoing.type === 'QUEUE' && outgoing.to === setup.queueSid, `outgoing ${outgoing.type} to ${outgoing.to}`);
  log('initiated', { type: outgoing.type, status: outgoing.status });
  const offer = await offered;
  expect(offer.transfer && offer.transfer.sid === outgoing.sid, 'the offer carries the transfer');
  expect(offer.task.queueSid === setup.queueSid, `offered from queue ${offer.task.queueSid}`);
  log('offered', { type: offer.transfer.type, mode: offer.transfer.mode, task: offer.task.status });
  const attemptFailed = once(held.task.transfers.outgoing, 'attemptFailed', 'attemptFailed');
  const updated = once(held.task, 'updated', 'task updated after the failed attempt');
  await offer.reject();
  const attempt = await attemptFailed;
  const task = await updated;
  log('attemptFailed', { status: attempt.status, task: task.status });
  const canceled = once(held.task.transfers.outgoing, 'canceled', 'transfer canceled');
  await held.task.transfers.outgoing.cancel();
  log('canceled', { status: (await canceled).status });
  alice.disconnect();
  bob.disconnect();
}

const scenarios = { life, stayOnline, tokenRefused, queueTransfer };

scenarios[setup.scenario]()
  .then(() => {
    process.stdout.write(JSON.stringify({ ok: true, steps }) + '\n');
    process.exit(0);
  })
  .catch((err) => fail(String(err && err.stack || err)));
