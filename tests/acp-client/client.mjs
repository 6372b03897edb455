// Drives `tandem acp` with the ACP TypeScript SDK: initialize, a new session, one prompt whose edit is allowed.
// Usage: node client.mjs TANDEM WORKSPACE PROMPT  (the agent's environment is this process's). Prints one JSON
// line: the stop reason, the permission titles asked, and the kinds of session updates seen.
import { spawn } from "node:child_process";
import { Writable, Readable } from "node:stream";
import * as acp from "@agentclientprotocol/sdk";

const [tandem, workspace, prompt] = process.argv.slice(2);
const agent = spawn(tandem, ["acp"], { cwd: workspace, stdio: ["pipe", "pipe", "inherit"] });
const asked = [];
const updates = [];
const client = {
  async requestPermission(params) {
    asked.push(params.toolCall.title);
    const allow = params.options.find((o) => o.kind === "allow_once");
    return { outcome: { outcome: "selected", optionId: allow.optionId } };
  },
  async sessionUpdate(params) {
    updates.push(params.update.sessionUpdate);
  },
};
const stream = acp.ndJsonStream(Writable.toWeb(agent.stdin), Readable.toWeb(agent.stdout));
const connection = new acp.ClientSideConnection((_agent) => client, stream);
const init = await connection.initialize({
  protocolVersion: acp.PROTOCOL_VERSION,
  clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
});
const session = await connection.newSession({ cwd: workspace, mcpServers: [] });
const result = await connection.prompt({
  sessionId: session.sessionId,
  prompt: [{ type: "text", text: prompt }],
});
console.log(JSON.stringify({
  agent: init.agentInfo?.name ?? null,
  stopReason: result.stopReason,
  asked,
  updates: [...new Set(updates)].sort(),
}));
agent.kill();
process.exit(0);
