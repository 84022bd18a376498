// Runs one trigger through an agent's lua-cli module, as lua-core would: the trigger call
// (JSON) on stdin, the module path as the argument, the handler's result (JSON) on stdout,
// nothing when it returns undefined. TypeScript is compiled with the `typescript` package of
// the module's own project (lua-cli depends on it), so no build step is needed.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const modulePath = path.resolve(process.argv[process.argv.length - 1]);
if (modulePath.endsWith(".ts")) {
  let ts;
  try {
    ts = createRequire(modulePath)("typescript");
  } catch {
    console.error(`cannot load TypeScript from ${path.dirname(modulePath)}: run npm install in the lua-cli project`);
    process.exit(2);
  }
  require.extensions[".ts"] = (module, filename) => {
    const out = ts.transpileModule(fs.readFileSync(filename, "utf8"), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: filename,
    });
    module._compile(out.outputText, filename);
  };
}

const call = JSON.parse(fs.readFileSync(0, "utf8"));
const exported = Object.values(require(modulePath));
const devices = exported.filter((v) => v && typeof v === "object" && v.triggers && v.commands);
// The unit's own name first: one project flashed onto many boards runs under many names.
const device =
  devices.find((d) => d.name === call.deviceName && d.triggers[call.triggerName]) ??
  devices.find((d) => d.triggers[call.triggerName]);
const trigger = device && device.triggers[call.triggerName];
if (!trigger || typeof trigger.execute !== "function") {
  process.exit(0);
}
const agent = {
  // What the handler tells the agent lands in the gateway's log.
  chat: async (message) => console.error(`agent.chat: ${message}`),
};
const context = {
  agent,
  device: { name: call.deviceName },
  trigger: { name: call.triggerName, id: call.triggerId },
};
Promise.resolve()
  .then(() => trigger.execute(call.payload, context))
  .then(
    (result) => {
      if (result !== undefined) {
        process.stdout.write(JSON.stringify(result));
      }
    },
    (error) => {
      const issues = error && Array.isArray(error.issues) ? error.issues : null;
      if (issues) {
        // A zod refusal: the payload broke the module's schema.
        for (const i of issues) {
          console.error(`payload ${i.path.join(".") || "(root)"}: ${i.message}`);
        }
      } else {
        console.error(error && error.stack ? error.stack : String(error));
      }
      process.exit(1);
    },
  );
