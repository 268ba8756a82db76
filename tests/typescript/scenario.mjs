// The official `agentmail` TypeScript SDK against an agentinbox HTTP API: a short scenario whose
// observations are printed as one JSON object for tests/test_http_typescript.py to check.
// Usage: node scenario.mjs BASE_URL API_KEY

import { AgentMail, AgentMailClient, AgentMailError } from "agentmail";

const [baseUrl, apiKey] = process.argv.slice(2);
if (!baseUrl || !apiKey) {
  console.error("usage: node scenario.mjs BASE_URL API_KEY");
  process.exit(2);
}

const client = new AgentMailClient({ baseUrl, apiKey, maxRetries: 0, timeoutInSeconds: 20 });

// What a call failed with: the SDK's error class, status and the error body's name and code.
async function failure(call) {
  try {
    await call();
  } catch (error) {
    if (!(error instanceof AgentMailError)) throw error;
    return {
      errorClass: error.constructor.name,
      isNotFound: error instanceof AgentMail.NotFoundError,
      isValidation: error instanceof AgentMail.ValidationError,
      statusCode: error.statusCode,
      name: error.body?.name,
      code: error.body?.code,
    };
  }
  return null;
}

// Poll a read until it gives something truthy (the message is delivered by the server's worker).
async function eventually(read) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting for delivery");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const agent = await client.inboxes.create({ username: "ts-agent", displayName: "TS Agent", clientId: "ts-1" });
const again = await client.inboxes.create({ username: "ts-agent", displayName: "TS Agent", clientId: "ts-1" });
const partner = await client.inboxes.create({ username: "ts-partner" });

const sent = await client.inboxes.messages.send(
  agent.inboxId,
  { to: [partner.inboxId], subject: "From TypeScript", text: "Hello from node.", labels: ["typescript"] },
  { idempotencyKey: "ts-send-1" },
);
const resent = await client.inboxes.messages.send(
  agent.inboxId,
  { to: [partner.inboxId], subject: "From TypeScript", text: "Hello from node.", labels: ["typescript"] },
  { idempotencyKey: "ts-send-1" },
);

const unread = await eventually(async () => {
  const page = await client.inboxes.threads.list(partner.inboxId, { labels: ["unread"] });
  return page.count > 0 ? page : null;
});
const thread = unread.threads[0];
const message = await client.inboxes.messages.get(partner.inboxId, thread.lastMessageId);
const updated = await client.inboxes.messages.update(partner.inboxId, message.messageId, {
  removeLabels: ["unread"],
  addLabels: ["Seen-By-TS"],
});
const unreadAfter = await client.inboxes.threads.list(partner.inboxId, { labels: ["unread"] });
const sentThreads = await client.inboxes.threads.list(agent.inboxId, { labels: ["sent", "typescript"] });

const notFound = await failure(() => client.inboxes.messages.get(partner.inboxId, "<missing+id@nowhere.test>"));
const unknownInbox = await failure(() => client.inboxes.get("nobody@agents.test"));
const invalid = await failure(() =>
  client.inboxes.messages.send(agent.inboxId, { to: ["not an address"], subject: "x", text: "x" }),
);

console.log(
  JSON.stringify({
    agent: { inboxId: agent.inboxId, clientId: agent.clientId, displayName: agent.displayName },
    againInboxId: again.inboxId,
    partnerInboxId: partner.inboxId,
    sent: { messageId: sent.messageId, threadId: sent.threadId },
    resent: { messageId: resent.messageId, threadId: resent.threadId },
    threads: unread.threads.map((t) => ({ subject: t.subject, senders: t.senders, labels: t.labels })),
    message: {
      messageId: message.messageId,
      from: message.from,
      to: message.to,
      subject: message.subject,
      text: message.text,
      labels: message.labels,
      timestamp: message.timestamp instanceof Date ? message.timestamp.toISOString() : message.timestamp,
    },
    updatedLabels: updated.labels,
    unreadAfter: unreadAfter.count,
    sentThreads: sentThreads.threads.map((t) => t.threadId),
    notFound,
    unknownInbox,
    invalid,
  }),
);
