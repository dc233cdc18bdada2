// Service-language assist: negative phrasing in a draft is underlined with a positive rewrite suggested.
// The rule is the server's (POST /agent/lint, the same lint as `bankbot data validate`).
import { clear, el } from "./dom.js";

/** Attach to a composer textarea; ``api(method, path, body)`` is the console's fetch helper. */
export function attachAssist(input, box, api) {
  let timer = null;
  let seq = 0;
  box.classList.add("lint-box");
  box.hidden = true;
  box.setAttribute("role", "status");
  box.setAttribute("aria-live", "polite");
  function paint(text, issues) {
    clear(box);
    if (!issues.length) { box.hidden = true; input.removeAttribute("aria-invalid"); return; }
    box.hidden = false;
    input.setAttribute("aria-invalid", "true");
    const preview = el("div", "lint-preview");
    let at = 0;
    issues.forEach((i) => {
      preview.appendChild(document.createTextNode(text.slice(at, i.start)));
      preview.appendChild(el("mark", "neg", text.slice(i.start, i.end)));
      at = i.end;
    });
    preview.appendChild(document.createTextNode(text.slice(at)));
    box.appendChild(el("div", "lint-title", "服务用语提示：请说我们能做什么"));
    box.appendChild(preview);
    const tips = el("ul", "lint-tips");
    issues.forEach((i) => tips.appendChild(el("li", null, "“" + i.phrase + "” → 建议：" + i.suggestion)));
    box.appendChild(tips);
  }
  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    const text = input.value;
    if (!text.trim() || text.trim().startsWith("/")) { paint("", []); return; }
    timer = window.setTimeout(() => {
      const mine = ++seq;
      api("POST", "/agent/lint", { text }).then((r) => {
        if (mine === seq && input.value === text) paint(text, (r && r.issues) || []);
      }).catch(() => { /* optional */ });
    }, 250);
  });
  return { reset: () => paint("", []) };
}
