// The real `push-agent` (push-agent/README.md) as a child process: the "phone" of the push
// journeys. scripts/e2e builds it and passes its path in E2E_PUSH_AGENT.
//
// Each agent gets its own private scratch directory (state file, control file), a free
// loopback port for the SNS deliveries moto makes, and a log in artifacts/. It is stopped
// by its own pid (SIGTERM, then SIGKILL) in stop(), and killed when this process exits.
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, openSync, closeSync, rmSync, accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ARTIFACTS } from "./browser.mjs";

export const AGENT_BIN = process.env.E2E_PUSH_AGENT || "";

/** How long to wait on the agent: it shares the CPU with Chromium, moto and the server. */
const PATIENCE_MS = 30_000;

const running = new Set();
process.on("exit", () => {
  for (const agent of running) agent.child.kill("SIGKILL");
});

/** Why the agent cannot run here, or null when it can. */
export function agentProblem() {
  if (!AGENT_BIN) return "E2E_PUSH_AGENT is not set (scripts/e2e builds push-agent and sets it)";
  if (!existsSync(AGENT_BIN)) return `E2E_PUSH_AGENT=${AGENT_BIN} does not exist: run cargo build -p push-agent`;
  try {
    accessSync(AGENT_BIN, constants.X_OK);
  } catch {
    return `E2E_PUSH_AGENT=${AGENT_BIN} is not executable`;
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function childEnv() {
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || "info" };
  delete env.LATCHKEY_PUSH_STATE; // --state decides, never the caller's environment
  return env;
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

export class PushAgent {
  /**
   * `push-agent enroll - ...` with the registration URI on stdin (kept out of `ps`), running
   * on after enrolling as a person would leave it. Resolves once it printed its device id.
   */
  static async enroll(uri, { label = "agent" } = {}) {
    const problem = agentProblem();
    if (problem) throw new Error(problem);
    const dir = mkdtempSync(join(tmpdir(), "latchkey-e2e-push-")); // mode 0700
    const state = join(dir, "agent", "state.json");
    const port = await freePort();
    mkdirSync(ARTIFACTS, { recursive: true });
    const logPath = join(ARTIFACTS, `push-agent-${label}.log`);
    const logFd = openSync(logPath, "w");
    const child = spawn(AGENT_BIN, [
      "enroll", "-",
      "--listen", `127.0.0.1:${port}`,
      "--public-url", `http://127.0.0.1:${port}/`,
      "--state", state,
      "--control", "127.0.0.1:0",
      // moto delivers over plain HTTP with its own certificate; the server's Ed25519
      // signature on each push is still checked.
      "--insecure-skip-sns-signature",
      "--no-prompt",
    ], { stdio: ["pipe", "pipe", logFd], env: childEnv() });
    closeSync(logFd);
    const agent = new PushAgent(child, dir, state, logPath);
    running.add(agent);
    child.stdin.end(`${uri}\n`);

    let out = "";
    child.stdout.setEncoding("utf8");
    try {
      agent.deviceId = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`push-agent did not enroll within ${PATIENCE_MS} ms (log: ${logPath})`)), PATIENCE_MS);
        child.stdout.on("data", (chunk) => {
          out += chunk;
          const nl = out.indexOf("\n");
          if (nl >= 0) {
            clearTimeout(timer);
            resolve(out.slice(0, nl).trim());
          }
        });
        child.once("exit", (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`push-agent enroll exited (${signal || `status ${code}`}) before enrolling (log: ${logPath})`));
        });
        child.once("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
    } catch (e) {
      await agent.stop();
      throw e;
    }
    return agent;
  }

  constructor(child, dir, state, logPath) {
    this.child = child;
    this.dir = dir;
    this.state = state;
    this.logPath = logPath;
    this.deviceId = null;
    this.seen = new Set(); // push ids already handed out by nextPush()
    this.exited = new Promise((r) => child.once("exit", r));
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** One client command against the running agent: {code, stdout, stderr}. */
  cli(args) {
    return new Promise((resolve) => {
      execFile(AGENT_BIN, [...args, "--state", this.state], { env: childEnv(), timeout: PATIENCE_MS }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
      });
    });
  }

  /** `push-agent pending`: the pushes waiting for an answer. */
  async pending() {
    const { code, stdout, stderr } = await this.cli(["pending"]);
    if (code !== 0) throw new Error(`push-agent pending failed: ${stderr.trim()}`);
    return stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  }

  /**
   * Waits until a push this test has not seen yet reaches the agent (SNS delivery through
   * moto is asynchronous) and returns it, as `pending` lists it.
   */
  async nextPush() {
    const deadline = Date.now() + PATIENCE_MS;
    for (;;) {
      if (!this.alive) throw new Error(`push-agent is not running (log: ${this.logPath})`);
      const fresh = (await this.pending()).find((p) => !this.seen.has(p.push_id));
      if (fresh) {
        this.seen.add(fresh.push_id);
        return fresh;
      }
      if (Date.now() > deadline) throw new Error(`no push reached the agent within ${PATIENCE_MS} ms (log: ${this.logPath})`);
      await delay(100);
    }
  }

  /** `push-agent approve PUSH_ID --number N`: the server's verdict ("approved" or "denied"). */
  async approve(pushId, number) {
    return this.answer(["approve", pushId, "--number", String(number)]);
  }

  /** `push-agent deny PUSH_ID`: the server's verdict ("denied"). */
  async deny(pushId) {
    return this.answer(["deny", pushId]);
  }

  async answer(args) {
    const { code, stdout, stderr } = await this.cli(args);
    if (code !== 0) throw new Error(`push-agent ${args[0]} failed: ${stderr.trim()}`);
    return stdout.trim();
  }

  /** Stops this agent by its pid: SIGTERM (it removes its control file), then SIGKILL. */
  async stop() {
    if (this.alive) {
      this.child.kill("SIGTERM");
      const gone = await Promise.race([this.exited.then(() => true), delay(5000).then(() => false)]);
      if (!gone) {
        this.child.kill("SIGKILL");
        await this.exited;
      }
    }
    running.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
