// An ordinary twilio-node application: nothing in it knows about the emulator. tests/test_node.py
// runs it with the environment `taskrouter-emulator env --node` prints.
"use strict";

const twilio = require("twilio");

async function main() {
  const client = twilio(process.env.TWILIO_ACCOUNT_SID, process.env.TWILIO_AUTH_TOKEN);
  const ws = await client.taskrouter.v1.workspaces.create({ friendlyName: "From Node", template: "FIFO" });
  const desk = client.taskrouter.v1.workspaces(ws.sid);
  for (const name of ["Ann", "Ben", "Cy"]) await desk.workers.create({ friendlyName: name });
  const workers = await desk.workers.list({ pageSize: 2 }); // two pages, the second one followed
  const task = await desk.tasks.create({ attributes: JSON.stringify({ type: "support" }) });
  let notFound = null;
  try {
    await client.taskrouter.v1.workspaces("WS" + "0".repeat(32)).fetch();
  } catch (error) {
    notFound = { status: error.status, code: error.code };
  }
  // a region and an edge only change the host name inside twilio.com
  const dublin = twilio(process.env.TWILIO_ACCOUNT_SID, process.env.TWILIO_AUTH_TOKEN, { region: "ie1", edge: "dublin" });
  const fromDublin = await dublin.taskrouter.v1.workspaces(ws.sid).fetch();
  console.log(JSON.stringify({
    workspace: ws.sid, url: ws.url, workers: workers.map((w) => w.friendlyName).sort(), task: task.sid,
    assignmentStatus: task.assignmentStatus, notFound, fromDublin: fromDublin.friendlyName,
    version: require("twilio/package.json").version,
  }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
