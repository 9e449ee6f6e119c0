// Test-side preload for the Worker SDK's own integration specs (twilio/twilio-taskrouter.js,
// test/integration/spec, tag 3.0.0) and its setup script, run against the emulator unchanged:
//  - every twilio-node REST call to a TaskRouter host goes to the emulator instead;
//  - every SDK Configuration gets the SDK's own ebServer/wsServer options pointing at the
//    emulator's Event Bridge (the specs pass only region/edge).
// Nothing in the specs' assertions is touched. Needs EMULATOR_URL and SDK_DIR in the environment.
'use strict';
const path = require('path');

const EMULATOR_URL = process.env.EMULATOR_URL.replace(/\/$/, '');
const SDK_DIR = path.resolve(process.env.SDK_DIR || process.cwd());
const TASKROUTER_HOST = /^https:\/\/taskrouter(\.[a-z0-9-]+)*\.twilio\.com/;

// twilio-node: every request goes through RequestClient.request({method, uri, ...})
const requestClientPath = require.resolve('twilio/lib/base/RequestClient', { paths: [SDK_DIR] });
const RequestClient = require(requestClientPath);
const request = RequestClient.prototype.request;
RequestClient.prototype.request = function (opts) {
  if (opts && typeof opts.uri === 'string') {
    opts.uri = opts.uri.replace(TASKROUTER_HOST, EMULATOR_URL);
  }
  return request.call(this, opts);
};

// The SDK: only when the specs load its sources through @babel/register (not for the setup script)
if (require.extensions['.js'] && process.env.SDK_SPECS === '1') {
  const configurationModule = require(path.join(SDK_DIR, 'lib/util/Configuration'));
  const Configuration = configurationModule.default;
  class EmulatorConfiguration extends Configuration {
    constructor(token, options = {}) {
      super(token, {
        ...options,
        ebServer: `${EMULATOR_URL}/v1/wschannels`,
        wsServer: `${EMULATOR_URL.replace(/^http/, 'ws')}/v1/wschannels`,
      });
    }
  }
  configurationModule.default = EmulatorConfiguration;
}
