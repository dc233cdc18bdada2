// The widget's UI strings in zh and en, and the language of this page.

// ------------------------------------------------------------------ language + UI strings
var STRINGS = {
  zh: {
    title: "示例银行 在线客服",
    subtitle: "智能助手 · 7×24 小时为您服务",
    placeholder: "请输入您的问题",
    send: "发送",
    connecting: "连接中…",
    reconnecting: "连接已断开，正在重新连接…",
    bot: "智能客服",
    agent: "人工客服",
    openApp: "在App中打开",
    openWeb: "网页版办理",
    step: function (n, of) { return "第 " + n + " / " + of + " 步"; },
    queue: function (n, m) { return "您前面还有 " + n + " 位，预计等待 " + m + " 分钟"; },
    queueUnknown: "正在为您转接人工客服，请稍候…",
    queueNext: "马上为您接通人工客服…",
    agentJoined: function (name) { return name + " 已接入，为您服务"; },
    agentTyping: function (name) { return (name || "客服") + " 正在输入…"; },
    agentLeft: "人工客服已结束服务，智能助手继续为您服务",
    welcome: "您好，我是示例银行智能助手。您可以直接输入问题，也可以点下面的常见问题：",
    popular: ["信用卡账单怎么查", "忘记登录密码怎么办", "银行卡丢了怎么挂失", "转账手续费是多少"],
    human: "人工客服",
    humanAsk: "转人工客服",
    callback: "预约电话回访",
    callbackAsk: "请安排客服给我回电话",
    lowScoreOffer: "很抱歉没能帮您解决。您可以马上联系人工客服，或预约电话回访：",
    history: "以上是您之前的对话",
    doFor: function (title) { return "立即办理：" + title; },
    takeMe: "直接带我去",
    surveyQuestion: "请您为本次服务打分",
    surveyLow: "非常不满意",
    surveyHigh: "非常满意",
    surveyReasons: "请告诉我们哪里做得不好（可多选）：",
    surveyComment: "其他意见或建议（选填）",
    surveySubmit: "提交评价",
    surveyThanks: "感谢您的评价！",
    scoreLabel: function (n) { return n + " 分"; },
    otpPlaceholder: function (len) { return "请输入 " + len + " 位验证码"; },
    careOn: "已为您切换到大字模式",
    enlarge: "点击查看大图",
    close: "关闭",
    serverError: "出错了：",
    joiner: "、"
  },
  en: {
    title: "Demo Bank · Customer Service",
    subtitle: "Virtual assistant · available 24/7",
    placeholder: "Type your question",
    send: "Send",
    connecting: "Connecting…",
    reconnecting: "Connection lost, reconnecting…",
    bot: "Assistant",
    agent: "Agent",
    openApp: "Open in app",
    openWeb: "Open on the web",
    step: function (n, of) { return "Step " + n + " of " + of; },
    queue: function (n, m) {
      return n + (n === 1 ? " person" : " people") + " ahead of you, about " + m + (m === 1 ? " minute" : " minutes");
    },
    queueUnknown: "Connecting you to a person, please wait…",
    queueNext: "You are next, connecting you to a person…",
    agentJoined: function (name) { return name + " has joined the chat"; },
    agentTyping: function (name) { return (name || "The agent") + " is typing…"; },
    agentLeft: "The agent has left the chat; the assistant is here to help again",
    welcome: "Hello, I'm the bank's assistant. Type your question, or pick a popular one:",
    popular: ["How do I check my credit card bill", "I forgot my login password", "I lost my card",
      "What are the transfer fees"],
    human: "Talk to a person",
    humanAsk: "talk to a person",
    callback: "Request a call back",
    callbackAsk: "please call me back",
    lowScoreOffer: "Sorry we didn't solve it. You can talk to a person now or ask for a call back:",
    history: "Your earlier conversation",
    doFor: function (title) { return "Do it now: " + title; },
    takeMe: "Take me there",
    surveyQuestion: "How would you rate this service?",
    surveyLow: "Very poor",
    surveyHigh: "Excellent",
    surveyReasons: "What went wrong? (choose any)",
    surveyComment: "Anything else? (optional)",
    surveySubmit: "Submit",
    surveyThanks: "Thank you for your feedback!",
    scoreLabel: function (n) { return String(n); },
    otpPlaceholder: function (len) { return "Enter the " + len + "-digit code"; },
    careOn: "Large text mode is on",
    enlarge: "Tap to enlarge",
    close: "Close",
    serverError: "Error: ",
    joiner: ", "
  }
};

export const params = new URLSearchParams(location.search);

export function pickLang() {
  var q = (params.get("lang") || "").toLowerCase();
  if (q === "zh" || q === "en") return q;
  var nav = String(navigator.language || "zh").toLowerCase();
  return nav.indexOf("en") === 0 ? "en" : "zh";
}

export const LANG = pickLang();
export const T = STRINGS[LANG];
