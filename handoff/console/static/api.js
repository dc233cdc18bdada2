// The console's REST helper: JSON in and out, the agent token in the Authorization header.
import { str } from "./dom.js";
import { S } from "./state.js";

var onAuthLost = function () {};

/** What to do when the server answers 401 (the token expired or was revoked). */
export function setAuthLost(fn) { onAuthLost = fn; }

export function api(method, path, body) {
  var headers = { "Accept": "application/json" };
  if (S.token) headers.Authorization = "Bearer " + S.token;
  var init = { method: method, headers: headers, cache: "no-store", credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch(path, init).then(function (res) {
    return res.text().then(function (raw) {
      var data = null;
      if (raw) { try { data = JSON.parse(raw); } catch (e) { data = null; } }
      if (res.ok) return data;
      var message = data && typeof data === "object" && data.message ? str(data.message) : "HTTP " + res.status;
      var err = new Error(message);
      err.status = res.status;
      if (res.status === 401 && path !== "/agent/login") {
        err.auth = true;
        onAuthLost();
      } else if (res.status === 403) {
        err.message = "没有权限（" + message + "）";
      }
      throw err;
    });
  });
}
