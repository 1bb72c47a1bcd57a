// The presenter's keys on the tour page: the next or previous step from anywhere on the page, with the arrow
// keys, PageDown/PageUp and Space (what presentation clickers send), Home and End; F toggles full screen.
// Sends "step": "next", "previous", "first" or "last"; Python moves the tour. A key that a focused control or
// the map uses for itself (it prevents the default), a held key's repeats and keys with Ctrl, Alt or Meta are
// left alone. One listener on the document while the component is on the page; removed when it goes.
const STEPS = { ArrowRight: "next", ArrowDown: "next", PageDown: "next", " ": "next",
                ArrowLeft: "previous", ArrowUp: "previous", PageUp: "previous", Home: "first", End: "last" };
const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]); // their keys are the user's own
const PRESSING = new Set(["BUTTON", "A", "SUMMARY"]); // Space and Enter press these

export default function ({ setTriggerValue }) {
  const keys = window.__vaeTourKeys || (window.__vaeTourKeys = { send: null, listener: null, sent: 0 });
  keys.send = setTriggerValue;
  if (!keys.listener) {
    keys.listener = (event) => onKey(keys, event);
    document.addEventListener("keydown", keys.listener);
  }
  return () => {
    document.removeEventListener("keydown", keys.listener);
    keys.listener = null;
  };
}

function onKey(keys, event) {
  if (event.defaultPrevented || event.repeat || event.ctrlKey || event.altKey || event.metaKey) return;
  const target = event.target || document.body;
  if (TYPING.has(target.tagName) || target.isContentEditable) return;
  if (event.key === "f" || event.key === "F") { toggleFullScreen(); return; }
  const step = STEPS[event.key];
  if (!step || (event.key === " " && PRESSING.has(target.tagName))) return;
  event.preventDefault(); // not the page's own scrolling
  keys.sent += 1; // what the browser tests read
  if (keys.send) keys.send("step", step);
}

function toggleFullScreen() {
  const root = document.documentElement;
  if (document.fullscreenElement) document.exitFullscreen();
  else if (root.requestFullscreen) root.requestFullscreen().catch(() => {}); // refused: the page stays as it is
}
