// Safe DOM building, the page's elements, scrolling, the image lightbox.
// Message content only ever goes into the page through textContent / attributes, never innerHTML.
import { LANG, T } from "./i18n.js";

// ------------------------------------------------------------------ safety helpers
var LINK_RE = /^(bankapp|https?):\/\/\S+$/i;

export function isLink(payload) { return typeof payload === "string" && LINK_RE.test(payload.trim()); }

export function safeImage(url) {
  if (typeof url !== "string") return null;
  url = url.trim();
  if (url.indexOf("data:image/") === 0) return url;
  // same-origin paths only: "/x" but not protocol-relative "//host" or "/\host"
  if (url.charAt(0) === "/" && url.charAt(1) !== "/" && url.charAt(1) !== "\\") return url;
  return null;
}

export function isDeepLink(url) { return typeof url === "string" && /^bankapp:\/\//i.test(url); }

export function str(v) { return v === null || v === undefined ? "" : String(v); }

/** Build an element; ``text`` always goes through textContent. */
export function el(tag, className, text) {
  var node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null && text !== "") node.textContent = String(text);
  return node;
}

// ------------------------------------------------------------------ DOM
export const $messages = document.getElementById("messages");
export const $input = document.getElementById("input");
export const $send = document.getElementById("send");
export const $status = document.getElementById("status");
export const $banner = document.getElementById("queue-banner");
export const $lightbox = document.getElementById("lightbox");
export const $lightboxImg = document.getElementById("lightbox-img");
export const defaultPlaceholder = T.placeholder;

document.documentElement.lang = LANG === "en" ? "en" : "zh-CN";
document.title = T.title;
document.getElementById("title").textContent = T.title;
document.getElementById("subtitle").textContent = T.subtitle;
$input.placeholder = T.placeholder;
$input.setAttribute("aria-label", T.placeholder);
$send.textContent = T.send;
$status.textContent = T.connecting;
$lightbox.setAttribute("aria-label", T.close);

var stickToBottom = true;
window.addEventListener("scroll", function () {
  var doc = document.documentElement;
  stickToBottom = window.innerHeight + window.scrollY >= doc.scrollHeight - 80;
}, { passive: true });

/** care mode: the newest step card stays in view from its instruction down */
export const view = { pinnedStep: null };

export function scrollDown(force) {
  if (!force && !stickToBottom) return;
  window.requestAnimationFrame(function () {
    var pinned = view.pinnedStep;
    if (pinned && document.body.classList.contains("care") && pinned === $messages.lastElementChild) {
      pinned.scrollIntoView({ block: "start" });
      return;
    }
    window.scrollTo(0, document.documentElement.scrollHeight);
  });
}

export function append(node) {
  var typing = $messages.querySelector(".typing, .agent-typing"); // typing notices stay last
  if (typing && node !== typing) $messages.insertBefore(node, typing);
  else $messages.appendChild(node);
  scrollDown(false);
  return node;
}

export function openLightbox(src, alt) {
  $lightboxImg.src = src;
  $lightboxImg.alt = alt || "";
  $lightbox.hidden = false;
}

export function closeLightbox() {
  $lightbox.hidden = true;
  $lightboxImg.removeAttribute("src");
}

$lightbox.addEventListener("click", closeLightbox);
document.addEventListener("keydown", function (e) {
  if (e.key === "Escape" && !$lightbox.hidden) closeLightbox();
});

/** A zoomable image (or null when the URL is not allowed). */
export function image(url, className, alt) {
  var src = safeImage(url);
  if (!src) return null;
  var img = el("img", className);
  img.src = src;
  img.alt = str(alt);
  img.title = T.enlarge;
  img.decoding = "async";
  img.addEventListener("click", function () { openLightbox(src, img.alt); });
  img.addEventListener("load", function () { scrollDown(false); });
  return img;
}
