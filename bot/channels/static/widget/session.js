// Who this browser is: the conversation id (sender), the bank app's identity, the conversation token.
import { params } from "./i18n.js";

// ------------------------------------------------------------------ sender id
var SENDER_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function randomId() {
  var bytes = new Uint8Array(12);
  (window.crypto || window.msCrypto).getRandomValues(bytes);
  var s = "";
  for (var i = 0; i < bytes.length; i++) s += ("0" + bytes[i].toString(16)).slice(-2);
  return "web-" + s;
}

// the bank app vouches for its signed-in customer: <customer_id>.<expires>.<hmac> (docs/channels.md)
export const IDENTITY = params.get("identity") || "";

export function senderId() {
  var idm = /^([A-Za-z0-9_.@:\-]{1,58})\.\d+\.[0-9a-f]+$/.exec(IDENTITY);
  if (idm) return "cust-" + idm[1];
  var fromUrl = params.get("sender");
  if (fromUrl && SENDER_RE.test(fromUrl)) return fromUrl;
  var stored = null;
  try { stored = localStorage.getItem("bankbot_sender"); } catch (e) { /* storage disabled */ }
  if (stored && SENDER_RE.test(stored)) return stored;
  var id = randomId();
  try { localStorage.setItem("bankbot_sender", id); } catch (e) { /* storage disabled */ }
  return id;
}

export const SENDER = senderId();

/** The secret that lets this browser re-open its own conversation ("" when there is none yet). */
export function conversationToken() {
  try { return localStorage.getItem("bankbot_token_" + SENDER) || ""; } catch (e) { return ""; }
}

/** Keep the conversation token the server sent in its session frame. */
export function saveConversationToken(token) {
  try { localStorage.setItem("bankbot_token_" + SENDER, String(token)); } catch (e) { /* storage disabled */ }
}
