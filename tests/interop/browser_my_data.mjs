// "Minu andmed" in a real browser, two of them (two contexts, two cookie jars): the person
// signs in at A in browser A and at B in browser B; browser A opens "Minu andmed" from A's nav
// bar, sees both sessions and the data tracker, and ends browser B's session; browser B's next
// page at B asks for a sign-in. Prints one JSON line with what it saw; the Rust test judges it.
//
// Environment: IDP, NODE_A, NODE_B (base URLs), USERNAME, PASSWORD.
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const idp = env('IDP');
const [a, b] = [env('NODE_A'), env('NODE_B')];
const seen = { steps: [] };
const step = (what, data = {}) => seen.steps.push({ what, ...data });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const signIn = async (base) => {
    const page = await (await browser.newContext({ locale: 'et-EE' })).newPage();
    await page.goto(`${base}/login`);
    await page.fill('#username', env('USERNAME'));
    await page.fill('#password', env('PASSWORD'));
    await Promise.all([page.waitForURL(`${base}/`), page.click('main button[type=submit]')]);
    return page;
  };
  const pageA = await signIn(a);
  step('signed in at A', { url: pageA.url() });
  const pageB = await signIn(b);
  step('signed in at B', { url: pageB.url() });

  await Promise.all([
    pageA.waitForURL((u) => u.href.startsWith(`${idp}/me`)),
    pageA.click('nav a[data-my-data]'),
  ]);
  const sessions = await pageA.$$eval('article.session', (els) =>
    els.map((e) => ({ sid: e.dataset.sid, current: e.hasAttribute('data-current'), text: e.textContent })));
  const tracker = await pageA.textContent('section[aria-labelledby="tracker"]');
  step('my data', { url: pageA.url(), title: await pageA.title(), sessions, tracker });

  const other = sessions.find((s) => !s.current);
  await Promise.all([
    pageA.waitForURL((u) => u.href.startsWith(`${idp}/me?done=1`)),
    pageA.click(`article[data-sid="${other.sid}"] > form button`),
  ]);
  const left = await pageA.$$eval('article.session', (els) => els.map((e) => e.dataset.sid));
  step('ended the other session', { url: pageA.url(), sessions: left });

  let url = '';
  for (let i = 0; i < 50; i += 1) {
    await pageB.goto(`${b}/profile`);
    url = pageB.url();
    if (url.startsWith(`${idp}/login`)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  step('browser B at B', { url, signedOut: url.startsWith(`${idp}/login`) });
  await pageA.goto(`${a}/profile`);
  step('browser A at A', { url: pageA.url() });
} catch (e) {
  seen.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
