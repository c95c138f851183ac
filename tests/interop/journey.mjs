// The core agent journey, driven by a second, independent MCP client: the
// TypeScript SDK over streamable HTTP. The box is written against the Python
// SDK; this checks that what it serves is MCP and not "whatever the Python
// client happens to accept".
//
//   STUDIO_MCP_TOKEN=<token> node journey.mjs http://127.0.0.1:8080/mcp
//
// One line per step; exit 1 with the failing step and why.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.argv[2] ?? "http://127.0.0.1:8080/mcp");
const token = process.env.STUDIO_MCP_TOKEN;
if (!token) fail("setup", "set STUDIO_MCP_TOKEN to the box's bearer token (studio token)");
const auth = { Authorization: `Bearer ${token}` };

function fail(step, why) {
  console.error(`FAIL ${step}: ${why}`);
  process.exit(1);
}

function check(step, ok, why) {
  if (!ok) fail(step, why);
}

function ok(step, detail) {
  console.log(`ok   ${step}: ${detail}`);
}

// A tool call that must succeed; its structured result.
async function call(client, name, args = {}) {
  const result = await client.callTool({ name, arguments: args });
  const text = result.content?.find((c) => c.type === "text")?.text ?? "";
  check(name, !result.isError, `tool error: ${text}`);
  check(name, result.structuredContent && typeof result.structuredContent === "object",
    `no structuredContent in ${JSON.stringify(result).slice(0, 300)}`);
  return result.structuredContent;
}

// GET an artifact's download_url (relative to the MCP URL) with the token; its bytes.
async function download(step, downloadUrl) {
  const target = new URL(downloadUrl, url);
  const response = await fetch(target, { headers: auth });
  if (!response.ok) fail(step, `GET ${target} answered ${response.status}: ${await response.text()}`);
  return Buffer.from(await response.arrayBuffer());
}

function checkSlice(step, slice) {
  for (const field of ["artifact_id", "sample_range", "download_url"]) {
    check(step, slice[field] !== undefined && slice[field] !== null,
      `structuredContent lacks ${field}: ${JSON.stringify(slice).slice(0, 300)}`);
  }
  check(step, Array.isArray(slice.sample_range) && slice.sample_range.length === 2
    && slice.sample_range[1] > slice.sample_range[0], `bad sample_range ${JSON.stringify(slice.sample_range)}`);
}

const SIM_RATE = 48_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const client = new Client({ name: "studio-interop-journey", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: auth } });
  try {
    await client.connect(transport);
  } catch (error) {
    fail("connect", `${url}: ${error.message}`);
  }
  const server = client.getServerVersion();
  ok("connect", `${server?.name} ${server?.version}, protocol ${transport.protocolVersion ?? "?"}, `
    + `session ${transport.sessionId ? "yes" : "none"}`);

  // listTools: every tool declares an object inputSchema and an outputSchema (the SDK then checks each result).
  // weave_* are vibeweaver's, registered with hootenanny as it comes up: on a box just started, ask again.
  const needed = ["device_list", "stream_status", "stream_slice", "weave_eval"];
  let tools = [];
  for (const deadline = Date.now() + 15_000; ;) {
    ({ tools } = await client.listTools());
    const listed = new Set(tools.map((t) => t.name));
    const missing = needed.filter((name) => !listed.has(name));
    if (missing.length === 0) break;
    check("listTools", Date.now() < deadline, `not listed after 15 s: ${missing.join(", ")}`);
    await sleep(500);
  }
  const noInput = tools.filter((t) => !t.inputSchema || t.inputSchema.type !== "object").map((t) => t.name);
  check("listTools", noInput.length === 0, `tools without an object inputSchema: ${noInput.join(", ")}`);
  const noOutput = tools.filter((t) => !t.outputSchema || t.outputSchema.type !== "object").map((t) => t.name);
  check("listTools", noOutput.length === 0, `tools without an object outputSchema: ${noOutput.join(", ")}`);
  ok("listTools", `${tools.length} tools, all with inputSchema and outputSchema`);

  const devices = await call(client, "device_list");
  ok("device_list", JSON.stringify(devices).slice(0, 160));

  // Both simulated streams record by themselves, and the audio head moves between two calls.
  const headOf = (status, uri) => status.streams?.find((s) => s.uri === uri);
  const first = await call(client, "stream_status");
  for (const uri of ["stream://sim/audio", "stream://sim/midi"]) {
    const row = headOf(first, uri);
    check("stream_status", row, `${uri} missing from ${JSON.stringify(first).slice(0, 300)}`);
    check("stream_status", row.state === "recording", `${uri} is ${row.state} (last error: ${row.last_error ?? "none"})`);
  }
  await sleep(500);
  const second = await call(client, "stream_status");
  const [h1, h2] = [headOf(first, "stream://sim/audio").head_sample, headOf(second, "stream://sim/audio").head_sample];
  check("stream_status", h2 > h1, `stream://sim/audio head did not advance in 0.5 s: ${h1} -> ${h2}`);
  ok("stream_status", `both sim streams recording; audio head ${h1} -> ${h2}`);

  // The slices below reach 10 s back: on a box that just started, wait until both streams hold that much.
  // The sim streams run at 48 kHz; head_sample counts from the start of the recording.
  const enough = 11 * SIM_RATE;
  const deadline = Date.now() + 20_000;
  let status = second;
  while (!["stream://sim/audio", "stream://sim/midi"].every((uri) => headOf(status, uri).head_sample >= enough)) {
    check("wait 10 s", Date.now() < deadline, `streams did not record 11 s within 20 s: ${JSON.stringify(status.streams)}`);
    await sleep(500);
    status = await call(client, "stream_status");
  }
  ok("wait 10 s", `both sim streams hold >= 11 s (audio head ${headOf(status, "stream://sim/audio").head_sample})`);

  // The last 3 s of audio as a WAV, downloaded with the token.
  const audio = await call(client, "stream_slice",
    { uri: "stream://sim/audio", start: { seconds_ago: 3 }, end: "now" });
  checkSlice("stream_slice audio", audio);
  const wav = await download("stream_slice audio", audio.download_url);
  check("stream_slice audio", wav.length > 44 && wav.toString("ascii", 0, 4) === "RIFF"
    && wav.toString("ascii", 8, 12) === "WAVE", `download is not RIFF/WAVE: ${wav.subarray(0, 12).toString("hex")}`);
  const seconds = (audio.sample_range[1] - audio.sample_range[0]) / SIM_RATE;
  ok("stream_slice audio", `samples ${audio.sample_range.join("..")} (${seconds.toFixed(3)} s), `
    + `${wav.length} bytes RIFF/WAVE from ${audio.download_url}`);

  // The last 10 s of MIDI as a Standard MIDI File.
  const midi = await call(client, "stream_slice",
    { uri: "stream://sim/midi", start: { seconds_ago: 10 }, end: "now" });
  checkSlice("stream_slice midi", midi);
  const smf = await download("stream_slice midi", midi.download_url);
  check("stream_slice midi", smf.toString("ascii", 0, 4) === "MThd",
    `download is not a Standard MIDI File: ${smf.subarray(0, 8).toString("hex")}`);
  ok("stream_slice midi", `${smf.length} bytes MThd from ${midi.download_url}`);

  const evaluated = await call(client, "weave_eval", { code: "1+1" });
  check("weave_eval", evaluated.result === "2",
    `result ${JSON.stringify(evaluated.result)}, wanted "2": ${JSON.stringify(evaluated).slice(0, 300)}`);
  ok("weave_eval", `1+1 -> ${evaluated.result}`);

  // A bad argument is a tool error (isError) with a readable text, not a protocol error or a hang.
  const bad = await client.callTool({ name: "stream_slice",
    arguments: { uri: "stream://nope/x", start: { seconds_ago: 3 }, end: "now" } });
  const badText = bad.content?.find((c) => c.type === "text")?.text ?? "";
  check("bad argument", bad.isError === true, `stream://nope/x did not give isError: ${JSON.stringify(bad).slice(0, 300)}`);
  check("bad argument", badText.length > 0 && badText.includes("stream://nope/x"),
    `error text does not name the stream: ${JSON.stringify(badText)}`);
  ok("bad argument", `isError: ${badText}`);

  await transport.terminateSession().catch(() => {}); // DELETE /mcp; a server may decline (405)
  await client.close();
  console.log("journey passed");
}

main().catch((error) => fail("journey", error.stack ?? String(error)));
