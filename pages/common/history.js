// Same-page address changes replace the current browser history entry instead of adding one.
// Streamlit adds a history entry whenever the server changes st.query_params (except while it
// answers Back/Forward), so every link update on a page (a clicked point, the ends of an
// interpolation, the model) added one, and Back needed several presses to leave a page.
// A change of page (a new path) still adds an entry, so Back and Forward move between pages.

export default function () {
  const history = window.history;
  if (history.__vaeSamePageReplace) return;
  const push = history.pushState.bind(history);
  history.pushState = function (state, title, url) {
    const target = new URL(url ?? window.location.href, window.location.href);
    if (target.pathname === window.location.pathname) history.replaceState(state, title, url);
    else push(state, title, url);
  };
  history.__vaeSamePageReplace = true;
}
