// Browser test of the `clipsearch serve` page in a real headless Chromium (the system's
// /usr/bin/chromium through playwright-core; no browser is ever downloaded). Run by
// tests/integration/web_ui.sh, which indexes the images and starts the server:
//   node ui_test.mjs BASE_URL SPECIAL_ID QUERY_IMAGE_ID SCREENSHOT [EMPTY_BASE_URL]
// EMPTY_BASE_URL: a server started before anything was indexed (no database), whose page
// must show the empty state with the command to run.
// Exit status 0 = every check passed, 1 = a check failed (each failure printed).
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, special, queryImage, screenshot, emptyBase] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const failures = [];
const check = (ok, what) => { if (!ok) { failures.push(what); console.error("FAIL: " + what); } };
const T = 60000;   // ms for any one wait: only fails a hung test (the machine may be loaded, ASan)

const profile = mkdtempSync(join(tmpdir(), "cs-web-ui-"));
let ctx;
try {
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    // Chromium's own connections to the outside are refused here: switch them off.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage"],
    timeout: 60000,
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(T);
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  // Error statuses the test provokes (400 for a bad filter) are logged as resource
  // errors; script errors are what counts.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) pageErrors.push(m.text());
  });

  await page.goto(base);
  await page.waitForFunction(() => document.querySelectorAll("#collection option").length > 0);
  check(await page.$eval("#collection", (s) => s.value) === "image_vectors", "default collection selected");

  const api = async (q, extra = {}) => {
    const p = new URLSearchParams({ q, k: "12", ...extra });
    const r = await fetch(base + "api/search?" + p);
    return (await r.json()).results;
  };
  const cards = () => page.$$eval("#results .card", (cs) => cs.map((c) => ({
    id: c.dataset.id,
    path: c.querySelector(".path").textContent,
    score: c.querySelector(".score").textContent,
    meta: (c.querySelector(".meta") || {}).textContent || "",
  })));
  const waitCards = async (n) => {
    await page.waitForFunction((n) => document.querySelectorAll("#results .card").length === n, n);
    return cards();
  };

  // Text query: type, Enter, result cards in the API's order with its scores.
  const want = await api("a colourful gradient");
  await page.fill("#q", "a colourful gradient");
  await page.press("#q", "Enter");
  const got = await waitCards(want.length);
  check(want.length >= 5, `API returned ${want.length} results`);
  check(JSON.stringify(got.map((c) => c.id)) === JSON.stringify(want.map((r) => r.id)),
        "cards are in the API's order");
  const scores = got.map((c) => Number(c.score));
  check(scores.every((s, i) => Number.isFinite(s) && Math.abs(s - want[i].score) < 6e-5),
        "scores shown: " + got.map((c) => c.score).join(" "));
  check(scores.every((s, i) => i === 0 || s <= scores[i - 1]), "scores sorted descending");
  check(got.every((c) => c.path === c.id), "each card shows its path");

  // Each image card links (thumbnail and path) to its original file, served by the API
  // for records only.
  const links = await page.$$eval("#results .card", (cs) => cs.map((c) => ({
    id: c.dataset.id,
    thumb: (c.querySelector(".frame a") || {}).href || "",
    path: (c.querySelector(".path a") || {}).href || "",
  })));
  check(links.length === want.length && links.every((l) => l.thumb && l.thumb === l.path &&
        new URL(l.thumb).pathname === "/api/file" && new URL(l.thumb).searchParams.get("id") === l.id),
        "cards link to /api/file?id=ID: " + JSON.stringify(links[0]));
  const fileResp = await page.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, type: r.headers.get("content-type"), size: (await r.arrayBuffer()).byteLength };
  }, links[0].thumb);
  check(fileResp.status === 200 && /^image\//.test(fileResp.type) && fileResp.size > 0,
        "the link serves the original image: " + JSON.stringify(fileResp));
  const other = await page.evaluate(async () => (await fetch("/api/file?id=%2Fetc%2Fpasswd")).status);
  check(other === 404, "no file outside the collection's records: status " + other);

  // Thumbnails: every image card's thumbnail actually loaded.
  for (const h of await page.$$("#results img.thumb")) await h.scrollIntoViewIfNeeded();
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll("#results img.thumb")];
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }).catch(() => {});
  const thumbs = await page.$$eval("#results img.thumb", (is) => is.map((i) => i.naturalWidth));
  check(thumbs.length === want.length && thumbs.every((w) => w > 0),
        "thumbnails loaded (naturalWidth " + thumbs.join(",") + ")");
  await page.evaluate(() => window.scrollTo(0, 0));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  // The id with markup characters is shown as text: no element, no script ran.
  const sp = got.find((c) => c.id === special);
  check(sp && sp.path === special, "special path rendered verbatim as text");
  check(await page.evaluate(() => window.__pwned === undefined), "no script injected by a path");

  // The viewer: a click on a thumbnail shows that result large; Left/Right step through
  // the image results in rank order; Escape closes it. The link stays the original's
  // (a middle click opens it).
  const viewed = () => page.evaluate(() => ({
    hidden: document.querySelector("#viewer").hidden,
    path: document.querySelector("#v-path").textContent,
    pos: document.querySelector("#v-pos").textContent,
    src: document.querySelector("#v-img").getAttribute("src") || "",
  }));
  const imageIds = got.map((c) => c.id);
  await page.click("#results .card:nth-child(2) .frame a");
  await page.waitForSelector("#viewer", { state: "visible" });
  await page.waitForFunction(() => {
    const i = document.querySelector("#v-img");
    return i.complete && i.naturalWidth > 0;
  }).catch(() => {});
  let v = await viewed();
  check(!v.hidden && v.path === imageIds[1] && v.pos === "2 / " + imageIds.length,
        "viewer opens on the clicked result: " + JSON.stringify(v));
  const vsrc = new URL(v.src, base);
  check(vsrc.pathname === "/api/thumb" && vsrc.searchParams.get("id") === imageIds[1] &&
        Number(vsrc.searchParams.get("size")) >= 1024,
        "viewer shows a large rendition: " + v.src);
  check(await page.$eval("#v-img", (i) => i.naturalWidth > 0), "viewer image loaded");
  check(await page.$eval("#v-orig", (a) => new URL(a.href).pathname === "/api/file"),
        "viewer links to the original");
  await page.keyboard.press("ArrowRight");
  v = await viewed();
  check(v.path === imageIds[2] && v.pos === "3 / " + imageIds.length, "Right: next result: " + JSON.stringify(v));
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("ArrowLeft");
  v = await viewed();
  check(v.path === imageIds[0], "Left twice: the first result: " + JSON.stringify(v));
  await page.keyboard.press("ArrowLeft");
  v = await viewed();
  check(v.path === imageIds[0] && !v.hidden, "Left on the first stays there");
  await page.keyboard.press("Escape");
  v = await viewed();
  check(v.hidden && !v.src, "Escape closes the viewer");
  await page.click("#results .card:nth-child(1) .frame a");
  await page.waitForSelector("#viewer", { state: "visible" });
  await page.mouse.click(5, 450);   // the backdrop, beside the image
  check((await viewed()).hidden, "a click beside the image closes the viewer");
  check(await page.$$eval("#results b, #results img:not(.thumb)", (x) => x.length) === 0,
        "no markup injected by a path");

  // The query text is shown as text too.
  const evil = "<img src=x onerror=window.__pwned2=1> gradient";
  await page.fill("#q", evil);
  await page.press("#q", "Enter");
  await page.waitForFunction((e) => document.querySelector("#status").textContent.includes(e), evil);
  check(await page.evaluate(() => window.__pwned2 === undefined &&
                            !document.querySelector("#status img")), "query text not injected");

  // k and the filter input.
  await page.fill("#q", "a colourful gradient");
  await page.fill("#k", "2");
  await page.press("#q", "Enter");
  check((await waitCards(2)).length === 2, "k=2 gives 2 cards");
  await page.fill("#k", "12");
  const jpgs = await api("a colourful gradient", { filter: '{"type":{"$eq":"jpg"}}' });
  check(jpgs.length >= 1 && jpgs.length < want.length, `filtered API results: ${jpgs.length}`);
  await page.fill("#filter", '{"type":{"$eq":"jpg"}}');
  await page.click("#go");
  const fc = await waitCards(jpgs.length);
  check(fc.every((c) => / jpg( |$)/.test(c.meta)) &&
        JSON.stringify(fc.map((c) => c.id)) === JSON.stringify(jpgs.map((r) => r.id)),
        "filter applied: " + fc.map((c) => c.meta).join(" | "));
  await page.fill("#filter", '{"type":{"$bogus":1}}');
  await page.press("#filter", "Enter");
  await page.waitForSelector("#error", { state: "visible" });
  check((await page.textContent("#error")).startsWith("FilterError"), "bad filter shows FilterError");
  await page.fill("#filter", "");

  // The filter fields (name contains, folder, dates) and the address that keeps them.
  await page.fill("#name", "PORTRAIT");
  await page.fill("#after", "2000-01-01");
  await page.click("#go");
  await page.waitForFunction(() => {
    const c = [...document.querySelectorAll("#results .card")];
    return c.length === 1 && /portrait_/.test(c[0].dataset.id);
  }).catch(() => {});
  const nc = await cards();
  check(nc.length === 1 && /portrait_444/.test(nc[0].id), "name field filters: " + nc.map((c) => c.id).join(" | "));
  const hash = await page.evaluate(() => location.hash);
  check(/name=PORTRAIT/.test(hash) && /after=2000-01-01/.test(hash), "filter fields in the address: " + hash);
  await page.fill("#under", "relative/folder");
  await page.click("#go");
  await page.waitForSelector("#error", { state: "visible" });
  check(/absolute folder/.test(await page.textContent("#error")), "a relative folder is refused");
  await page.fill("#under", "");
  await page.fill("#name", "");
  await page.fill("#after", "");

  // Image query through the file picker: the image finds itself first.
  await page.fill("#q", "");
  await page.setInputFiles("#file", queryImage);
  await page.waitForFunction((id) => {
    const c = document.querySelector("#results .card");
    return c && c.dataset.id === id;
  }, queryImage).catch(() => {});
  const ic = await cards();
  check(ic.length > 0 && ic[0].id === queryImage && ic[0].score === "1.0000",
        "image query ranks the image first with score 1: " + JSON.stringify(ic[0]));
  check(await page.isVisible("#query-img"), "query image preview shown");

  // "Similar" on a card: that record first, score 1.
  const second = (await cards())[1];
  await page.click("#results .card:nth-child(2) .similar");
  await page.waitForFunction((id) => {
    const c = document.querySelector("#results .card");
    return document.querySelector("#status").textContent.includes("records like") && c && c.dataset.id === id;
  }, second.id).catch(() => {});
  const sc = await cards();
  check(sc.length > 0 && sc[0].id === second.id && sc[0].score === "1.0000",
        "Similar finds the record itself first: " + JSON.stringify(sc[0]));

  // Drag and drop of an image file onto the page.
  await page.click("#clear-img");
  const dropped = await page.evaluate(async (id) => {
    const blob = await (await fetch("/api/thumb?" + new URLSearchParams({ id, size: "200" }))).blob();
    const dt = new DataTransfer();
    dt.items.add(new File([blob], "dropped.jpg", { type: "image/jpeg" }));
    document.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    return blob.size;
  }, queryImage);
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("image dropped.jpg"));
  const dc = await cards();
  check(dropped > 0 && dc.length > 0 && dc[0].id === queryImage,
        "dropped image (its thumbnail) finds the original first: " + JSON.stringify(dc[0]));

  // "Similar" is kept in the address: a reload shows the same search.
  await page.click("#clear-img");
  const third = (await cards())[2];
  await page.click("#results .card:nth-child(3) .similar");
  await page.waitForFunction(() => /like=/.test(location.hash)).catch(() => {});
  check(/like=/.test(await page.evaluate(() => location.hash)), "Similar search in the address");
  await page.reload();
  await page.waitForFunction((id) => {
    const c = document.querySelector("#results .card");
    return c && c.dataset.id === id;
  }, third.id).catch(() => {});
  const rc = await cards();
  check(rc.length > 0 && rc[0].id === third.id && rc[0].score === "1.0000",
        "reloaded Similar search: " + JSON.stringify(rc[0]));

  // A server started before anything was indexed: the empty state names the command.
  if (emptyBase) {
    await page.goto(emptyBase);
    await page.waitForSelector("#empty", { state: "visible" });
    const cmd = await page.textContent("#empty-cmd");
    check(/^clipsearch index DIR --db /.test(cmd), "empty state shows the command: " + cmd);
    check(!(await page.isVisible("#collection")) && !(await page.isVisible("#search")),
          "no blank collection menu or search form on an empty store");
    check(!(await page.isVisible("#error")), "no error box on an empty store");
  }

  check(pageErrors.length === 0, "no errors in the page: " + pageErrors.join(" | "));
} catch (e) {
  failures.push(String(e));
  console.error("FAIL: " + (e && e.stack ? e.stack : e));
} finally {
  if (ctx) await ctx.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
if (failures.length === 0) console.log("web_ui: all checks passed");
process.exit(failures.length ? 1 : 0);
