// Shared by the twilio-node and twilio-cli preloads: send every request a Twilio request client
// makes to https://taskrouter.twilio.com (or a region/edge variant such as
// taskrouter.dublin.ie1.twilio.com) to the emulator named by TASKROUTER_EMULATOR_URL instead.
// Nothing else changes: path, query, body, headers and credentials go out as they were, so the
// application or the CLI needs no change at all.
"use strict";

const Module = require("module");

const TASKROUTER = /^https:\/\/taskrouter(?:\.[a-z0-9-]+)*\.twilio\.com(?::443)?(?=[/?#]|$)/i;
const MARK = Symbol.for("taskrouter-emulator.redirected");

function emulatorUrl() {
  const url = (process.env.TASKROUTER_EMULATOR_URL || "").trim().replace(/\/+$/, "");
  if (!url) {
    process.emitWarning("TASKROUTER_EMULATOR_URL is not set: TaskRouter requests are not redirected to the emulator "
      + "(run `eval \"$(taskrouter-emulator env --node)\"`)", "TaskRouterEmulator");
    return null;
  }
  if (!/^https?:\/\/[^/]+$/i.test(url)) {
    throw new Error(`TASKROUTER_EMULATOR_URL must be the emulator's base URL such as http://127.0.0.1:8787, not ${url}`);
  }
  return url;
}

// Wrap the request method of the class a module exports (module.exports or exports.default).
function redirectRequests(exported, base) {
  const cls = exported && (typeof exported === "function" ? exported : exported.default);
  const proto = cls && cls.prototype;
  if (!proto || typeof proto.request !== "function" || proto.request[MARK]) return false;
  const original = proto.request;
  const request = function (opts) {
    if (opts && typeof opts.uri === "string" && TASKROUTER.test(opts.uri)) {
      opts = Object.assign({}, opts, { uri: opts.uri.replace(TASKROUTER, base) });
    }
    return original.call(this, opts);
  };
  request[MARK] = true;
  proto.request = request;
  return true;
}

// Patch each module whose file name matches one of `targets` as it is loaded, wherever it is
// installed (an application's own node_modules, a nested copy inside the CLI, ...).
function install(targets) {
  const base = emulatorUrl();
  if (base === null) return;
  const load = Module.prototype.load;
  Module.prototype.load = function (filename) {
    const result = load.apply(this, arguments);
    if (targets.some((target) => target.test(filename))) redirectRequests(this.exports, base);
    return result;
  };
}

module.exports = { install, redirectRequests, TASKROUTER };
