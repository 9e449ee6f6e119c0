// Preload for twilio-node (3.x to 6.x): an unchanged Node application talks to the TaskRouter
// emulator instead of https://taskrouter.twilio.com.
//
//   eval "$(taskrouter-emulator env --node --url http://127.0.0.1:8787)"   # sets the two below
//   NODE_OPTIONS="--require <this file>" TASKROUTER_EMULATOR_URL=http://127.0.0.1:8787 node app.js
//
// Every other Twilio API (api.twilio.com for SMS and calls, ...) is left alone.
"use strict";

require("./redirect").install([/[\\/]twilio[\\/]lib[\\/]base[\\/]RequestClient\.js$/]);
