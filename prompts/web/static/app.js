// talks: the little script behind the pages. Data from the server is only ever put into the page as text
// (textContent, input values), never as HTML, so a transcript or title cannot inject markup or script.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function api(method, url, body) {
  const options = { method, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const error = new Error((data && data.detail) || String(data) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function stamp(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const total = Math.floor(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(total / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
}

// ---- library: add talks, follow the job ------------------------------------------------------------------------

function followJob(job) {
  const box = document.getElementById("job");
  const status = document.getElementById("job-status");
  const count = document.getElementById("job-count");
  const bar = document.getElementById("job-progress");
  const list = document.getElementById("job-items");
  const cancel = document.getElementById("job-cancel");
  const reload = document.getElementById("job-reload");
  box.hidden = false;
  reload.hidden = true;
  cancel.hidden = false;
  cancel.onclick = () => api("POST", `/api/jobs/${job.id}/cancel`).catch((error) => (status.textContent = error.message));
  const show = (view) => {
    const finished = view.items.filter((i) => ["done", "failed", "skipped"].includes(i.status)).length;
    status.textContent = view.status;
    box.dataset.status = view.status;
    count.textContent = `${finished} of ${view.total}`;
    bar.max = Math.max(view.total, 1);
    bar.value = finished;
    list.replaceChildren(...view.items.map((item) =>
      el("li", { class: `item-${item.status}` },
        el("span", { class: `status status-${item.status}`, text: item.status }), " ",
        el("strong", { text: item.talk_id || item.name }), item.message ? ` ${item.message}` : "")));
    if (["done", "failed", "cancelled", "interrupted"].includes(view.status)) {
      cancel.hidden = true;
      reload.hidden = false;
    }
  };
  show(job);
  const source = new EventSource(`/api/jobs/${job.id}/events`);
  source.addEventListener("job", (event) => show(JSON.parse(event.data)));
  source.addEventListener("end", () => source.close());
  source.onerror = () => {
    source.close();
    api("GET", `/api/jobs/${job.id}`).then(show).catch(() => {});
  };
}

function reportError(form, error) {
  let line = form.querySelector(".error");
  if (!line) {
    line = el("p", { class: "error", role: "alert" });
    form.append(line);
  }
  line.textContent = error.message;
}

function setUpLibrary() {
  const filesForm = document.getElementById("add-files");
  if (!filesForm) return;
  const input = document.getElementById("files");
  const drop = document.getElementById("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    input.files = event.dataTransfer.files;
  });
  filesForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    filesForm.querySelector(".error")?.remove();
    const data = new FormData();
    for (const file of input.files) data.append("files", file, file.name);
    const eventName = document.getElementById("files-event").value.trim();
    if (eventName) data.append("event", eventName);
    try { followJob(await api("POST", "/api/ingest/files", data)); } catch (error) { reportError(filesForm, error); }
  });
  const youtube = document.getElementById("add-youtube");
  youtube.addEventListener("submit", async (event) => {
    event.preventDefault();
    youtube.querySelector(".error")?.remove();
    const videos = document.getElementById("videos").value.split(/\s+/).filter(Boolean);
    const languages = document.getElementById("languages").value;
    try { followJob(await api("POST", "/api/ingest/youtube", { videos, languages })); } catch (error) { reportError(youtube, error); }
  });
  const manifest = document.getElementById("add-manifest");
  manifest.addEventListener("submit", async (event) => {
    event.preventDefault();
    manifest.querySelector(".error")?.remove();
    const data = new FormData();
    const file = document.getElementById("manifest").files[0];
    if (file) data.append("manifest", file, file.name);
    for (const extra of document.getElementById("manifest-files").files) data.append("files", extra, extra.name);
    try { followJob(await api("POST", "/api/batch", data)); } catch (error) { reportError(manifest, error); }
  });
  for (const button of document.querySelectorAll("button.resume")) {
    button.addEventListener("click", async () => {
      try { followJob(await api("POST", `/api/jobs/${button.dataset.job}/resume`)); } catch (error) { button.textContent = error.message; }
    });
  }
}

// ---- talk page: search within the talk --------------------------------------------------------------------------

function setUpSearch() {
  const input = document.getElementById("find");
  if (!input) return;
  const segments = [...document.querySelectorAll("#transcript .segment")];
  const texts = segments.map((segment) => segment.querySelector(".text"));
  const originals = texts.map((node) => node.textContent);
  const counter = document.getElementById("find-count");
  let timer;
  const run = () => {
    const needle = input.value.trim().toLowerCase();
    let hits = 0;
    let first = null;
    texts.forEach((node, i) => {
      const text = originals[i];
      const at = needle ? text.toLowerCase().indexOf(needle) : -1;
      segments[i].classList.toggle("hidden", Boolean(needle) && at < 0);
      if (at < 0) { node.textContent = text; return; }
      hits += 1;
      first = first || segments[i];
      const parts = [];
      let from = 0;
      const lower = text.toLowerCase();
      for (let pos = lower.indexOf(needle); pos >= 0; pos = lower.indexOf(needle, pos + needle.length)) {
        parts.push(text.slice(from, pos), el("mark", { text: text.slice(pos, pos + needle.length) }));
        from = pos + needle.length;
      }
      parts.push(text.slice(from));
      node.replaceChildren(...parts);
    });
    counter.textContent = needle ? `${hits} segment${hits === 1 ? "" : "s"}` : "";
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 120); });
  input.addEventListener("keydown", (event) => { if (event.key === "Escape") { input.value = ""; run(); } });
  const marked = document.querySelector(".segment.marked");
  if (marked) marked.scrollIntoView({ block: "center" });
}

// ---- recap editor -----------------------------------------------------------------------------------------------

function setUpRecap() {
  const root = document.getElementById("recap");
  if (!root) return;
  const talkId = root.dataset.talk;
  let draft = JSON.parse(document.getElementById("draft-data").textContent);
  const themesBox = document.getElementById("themes");
  const keyBox = document.getElementById("key-quotes");
  const overview = document.getElementById("overview");
  const saveState = document.getElementById("save-state");
  let dirty = false;
  let saveTimer;

  const changed = () => {
    dirty = true;
    saveState.textContent = "Unsaved changes";
    clearTimeout(saveTimer);
    saveTimer = setTimeout(save, 1500);
  };
  const move = (list, index, by) => {
    const target = index + by;
    if (target < 0 || target >= list.length) return;
    [list[index], list[target]] = [list[target], list[index]];
    changed();
    render();
  };
  const drop = (list, index) => { list.splice(index, 1); changed(); render(); };
  const tools = (list, index, label) => el("span", { class: "tools" },
    el("button", { type: "button", class: "icon", "aria-label": `Move ${label} up`, title: "Move up", text: "↑", onclick: () => move(list, index, -1) }),
    el("button", { type: "button", class: "icon", "aria-label": `Move ${label} down`, title: "Move down", text: "↓", onclick: () => move(list, index, 1) }),
    el("button", { type: "button", class: "icon", "aria-label": `Drop ${label}`, title: "Drop", text: "✕", onclick: () => drop(list, index) }));

  const quoteItem = (quotes, quote, index) => {
    const text = el("textarea", { rows: 2, class: "quote-text", "aria-label": `Quote ${index + 1}` });
    text.value = quote.text;
    text.addEventListener("input", () => { quote.text = text.value; changed(); });
    const pin = el("input", { type: "checkbox", class: "pin", checked: quote.pinned });
    pin.addEventListener("change", () => { quote.pinned = pin.checked; changed(); });
    return el("li", { class: quote.verbatim ? "quote" : "quote edited" },
      text,
      el("div", { class: "meta" },
        el("span", { text: [quote.speaker, stamp(quote.start)].filter(Boolean).join(" · ") }), " ",
        quote.url ? el("a", { href: quote.url, rel: "noopener noreferrer", target: "_blank", text: "video" }) : null, " ",
        quote.verbatim ? el("span", { class: "badge", text: "verbatim" }) : el("span", { class: "badge warn", text: "edited: not verbatim" }), " ",
        el("label", { class: "pin-label" }, pin, " pin"),
        tools(quotes, index, "quote")));
  };

  const render = () => {
    overview.value = draft.overview;
    themesBox.replaceChildren(...draft.themes.map((theme, t) => {
      const title = el("input", { class: "theme-title", "aria-label": `Theme ${t + 1} title` });
      title.value = theme.title;
      title.addEventListener("input", () => { theme.title = title.value; changed(); });
      const takeaways = el("ol", { class: "takeaways" }, ...theme.takeaways.map((takeaway, k) => {
        const text = el("textarea", { rows: 2, class: "takeaway", "aria-label": `Theme ${t + 1}, takeaway ${k + 1}` });
        text.value = takeaway.text;
        text.addEventListener("input", () => { takeaway.text = text.value; changed(); });
        const cite = takeaway.citations[0];
        return el("li", {}, text, el("div", { class: "meta" },
          cite ? el("a", { href: `/talks/${encodeURIComponent(cite.talk_id)}?from=${cite.first_segment}&to=${cite.last_segment}#seg-${cite.first_segment}`, text: stamp(cite.start) || "source" }) : null,
          tools(theme.takeaways, k, "takeaway")));
      }));
      const quotes = el("ol", { class: "quotes" }, ...theme.quotes.map((quote, q) => quoteItem(theme.quotes, quote, q)));
      return el("section", { class: "theme" },
        el("div", { class: "theme-head" }, title, tools(draft.themes, t, "theme")),
        takeaways, theme.quotes.length ? el("h3", { text: "Quotes" }) : null, quotes);
    }));
    keyBox.replaceChildren(...draft.key_quotes.map((quote, q) => quoteItem(draft.key_quotes, quote, q)));
  };

  overview.addEventListener("input", () => { draft.overview = overview.value; changed(); });

  async function save() {
    clearTimeout(saveTimer);
    if (!dirty) return;
    saveState.textContent = "Saving…";
    try {
      const saved = await api("PUT", `/api/talks/${encodeURIComponent(talkId)}/draft`,
        { overview: draft.overview, themes: draft.themes, key_quotes: draft.key_quotes });
      delete saved.generated;
      draft = saved;
      dirty = false;
      saveState.textContent = "Saved";
      render();
    } catch (error) {
      saveState.textContent = `Not saved: ${error.message}`;
      throw error;
    }
  }

  document.getElementById("save").addEventListener("click", () => save().catch(() => {}));
  document.getElementById("copy-md").addEventListener("click", async () => {
    await save();
    const text = await api("GET", `/api/talks/${encodeURIComponent(talkId)}/draft.md`);
    try { await navigator.clipboard.writeText(text); saveState.textContent = "Markdown copied"; }
    catch { saveState.textContent = "Copying is not allowed here: use Download"; }
  });
  const download = document.getElementById("download-md");
  download.addEventListener("click", async (event) => {
    if (!dirty) return;
    event.preventDefault();
    await save();
    window.location.href = download.href;
  });
  document.getElementById("regenerate").addEventListener("click", async () => {
    const url = `/api/talks/${encodeURIComponent(talkId)}/draft/regenerate`;
    try {
      await save();
      if (draft.edited) {
        if (!window.confirm("Your draft has edits. Replace it with a newly generated recap?")) {
          saveState.textContent = "Kept your edited draft";
          return;
        }
        draft = await api("POST", `${url}?overwrite=true`);
      } else {
        draft = await api("POST", url);
      }
    } catch (error) {
      saveState.textContent = error.message;
      return;
    }
    delete draft.generated;
    dirty = false;
    saveState.textContent = "Regenerated";
    render();
  });
  window.addEventListener("beforeunload", (event) => { if (dirty) { save().catch(() => {}); event.preventDefault(); } });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") { event.preventDefault(); save().catch(() => {}); }
  });
  render();
}

document.addEventListener("DOMContentLoaded", () => {
  setUpLibrary();
  setUpSearch();
  setUpRecap();
});
