// Global sign-out in a real browser: headless Debian Chromium driven by playwright-core.
// Signs in at A on the IdP's page, opens B and then C through the nav bar's logos, signs out at
// C, and reloads A and B. Prints one JSON line with what it saw; the Rust test judges it.
//
// Environment: IDP, NODE_A, NODE_B, NODE_C (base URLs), USERNAME, PASSWORD, NAME (as greeted).
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const idp = env('IDP');
const [a, b, c] = [env('NODE_A'), env('NODE_B'), env('NODE_C')];
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
  const page = await (await browser.newContext({ locale: 'et-EE' })).newPage();
  const greeted = async () => (await page.textContent('main')).includes(`Tere, ${env('NAME')}!`);

  await page.goto(`${a}/login`);
  step('sign-in page', { url: page.url() });
  await page.fill('#username', env('USERNAME'));
  await page.fill('#password', env('PASSWORD'));
  await Promise.all([page.waitForURL(`${a}/`), page.click('main button[type=submit]')]);
  step('signed in at A', { url: page.url(), greeted: await greeted() });

  await Promise.all([page.waitForURL(`${b}/`), page.click('nav a[data-institution="b"]')]);
  step('opened B from the nav bar', { url: page.url(), greeted: await greeted() });
  await Promise.all([page.waitForURL(`${c}/`), page.click('nav a[data-institution="c"]')]);
  step('opened C from the nav bar', { url: page.url(), greeted: await greeted() });

  // Sign out at C. The IdP's page loads the front-channel frames before its load event; with
  // no frame to load it sends the browser straight back to C.
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${idp}/logout`) || u.href === `${c}/logged-out`),
    page.click('nav form[action="/logout"] button'),
  ]);
  await page.waitForLoadState('load');
  const frames = page.url().startsWith(idp) ? page.frames().length - 1 : 0;
  step('IdP logout page', { url: page.url(), frames });

  // Reload A and B: each must send the browser to the IdP's sign-in page. Back-channel
  // delivery is asynchronous, so allow it a few seconds.
  for (const [name, base] of [['A', a], ['B', b]]) {
    let url = '';
    for (let i = 0; i < 50; i += 1) {
      await page.goto(`${base}/profile`);
      url = page.url();
      if (url.startsWith(`${idp}/login`)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    step(`reloaded ${name}`, { url, signedOut: url.startsWith(`${idp}/login`) });
  }
} catch (e) {
  seen.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
