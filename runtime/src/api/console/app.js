// Cairn's console: the little the server-rendered pages need.
// Actions ask first; counts stay current; times show in local time.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

for (const t of document.querySelectorAll("time[datetime]")) {
  const d = new Date(t.getAttribute("datetime"));
  if (!isNaN(d)) t.title = t.textContent, t.textContent = d.toLocaleString();
}

const live = document.querySelector("[data-live]");
if (live) {
  const refresh = async () => {
    try {
      const response = await fetch(live.dataset.live, { credentials: "same-origin" });
      if (!response.ok) return;
      const counts = await response.json();
      for (const [status, n] of Object.entries(counts)) {
        const cell = live.querySelector(`[data-count="${status}"]`);
        if (cell) cell.textContent = n;
      }
    } catch (_) { /* the next round tries again */ }
  };
  refresh();
  setInterval(refresh, 2000);
}
