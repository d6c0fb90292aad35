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

// Timeline bars are placed here: the page carries no inline style (CSP).
for (const bar of document.querySelectorAll(".bar[data-left]")) {
  bar.style.left = `${bar.dataset.left}%`;
  bar.style.width = `${bar.dataset.width}%`;
}

// The filters' times are the browser's: tell the server its offset from UTC.
for (const tz of document.querySelectorAll("input[name=tz]")) {
  tz.value = new Date().getTimezoneOffset();
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
