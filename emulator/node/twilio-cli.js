// Preload for twilio-cli (which has no host option): its `twilio api:taskrouter:...` commands
// talk to the TaskRouter emulator instead of https://taskrouter.twilio.com.
//
//   eval "$(taskrouter-emulator env --cli --url http://127.0.0.1:8787)"
//   twilio api:taskrouter:v1:workspaces:list
//
// The CLI sends its requests through its own client (@twilio/cli-core) and through the
// twilio-node copy it carries; both are redirected. The CLI's check for a newer version of
// itself, a request to the npm registry at start, is skipped unless asked for.
"use strict";

if (process.env.TWILIO_SKIP_NEW_VERSION_CHECK === undefined) process.env.TWILIO_SKIP_NEW_VERSION_CHECK = "true";
require("./redirect").install([
  /[\\/]@twilio[\\/]cli-core[\\/]src[\\/]services[\\/]cli-http-client\.js$/,
  /[\\/]twilio[\\/]lib[\\/]base[\\/]RequestClient\.js$/,
]);
