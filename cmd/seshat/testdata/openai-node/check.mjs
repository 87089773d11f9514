// Drives the server's OpenAI-compatible routes with the official openai
// package, unmodified: only baseURL and apiKey are set. Prints one JSON
// object of what it saw; any failure exits non-zero.
import OpenAI from "openai";

const baseURL = process.env.SESHAT_BASE_URL;
const client = new OpenAI({ baseURL, apiKey: process.env.SESHAT_KEY, maxRetries: 0 });
const out = {};

const plain = await client.chat.completions.create({
  model: "mock:echo",
  messages: [{ role: "system", content: "terse" }, { role: "user", content: "hello from node" }],
});
out.plain = plain.choices[0].message.content;
out.plainFinish = plain.choices[0].finish_reason;

const stream = await client.chat.completions.create({
  model: "mock:echo",
  stream: true,
  stream_options: { include_usage: true },
  messages: [{ role: "user", content: "@tokens 5" }],
});
let text = "";
for await (const chunk of stream) {
  if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? "";
  if (chunk.usage) out.streamUsage = chunk.usage.completion_tokens;
}
out.stream = text;

const tools = [{
  type: "function",
  function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
}];
const messages = [{ role: "user", content: '@tool get_weather {"city":"Oslo"}' }];
const raw = await client.chat.completions.create({ model: "mock:echo", tools, messages }).withResponse();
const call = raw.data.choices[0].message.tool_calls[0];
out.toolFinish = raw.data.choices[0].finish_reason;
out.toolArgs = JSON.parse(call.function.arguments);
messages.push(raw.data.choices[0].message, { role: "tool", tool_call_id: call.id, content: "snow" });
const answer = await client.chat.completions.create(
  { model: "mock:echo", tools, messages },
  { headers: { "x-seshat-session-id": raw.response.headers.get("x-seshat-session-id") } },
);
out.toolAnswer = answer.choices[0].message.content;

out.models = [];
for await (const m of client.models.list()) out.models.push(m.id);

try {
  await new OpenAI({ baseURL, apiKey: "sk-wrong", maxRetries: 0 }).chat.completions.create({
    model: "mock:echo", messages: [{ role: "user", content: "hi" }],
  });
  out.wrongKey = "no error";
} catch (e) {
  out.wrongKey = e instanceof OpenAI.AuthenticationError ? "AuthenticationError" : String(e);
}

console.log(JSON.stringify(out));
