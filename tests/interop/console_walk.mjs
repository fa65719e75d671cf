// The operators' console in headless Chromium, as an operator and then a pupil use it: with
// PHASE=console, sign in at the IdP's /admin with the demo's test eID broker (Tõnu Tundmatu),
// add an institution by its form, and make an enrolment token for the school at SITE; with
// PHASE=sso (after the Rust test enrolled and started that school), sign Mari Maasikas in
// there with ID-kaart through the IdP. Prints one JSON line with what it saw.
//
// Environment: IDP (the IdP's base URL), SITE (the new school's public URL), PHASE.
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const [idp, site, phase] = [env('IDP'), env('SITE'), env('PHASE')];
const seen = {};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'],
});
try {
  const context = await browser.newContext({ locale: 'et-EE' });
  const page = await context.newPage();
  const text = async (selector) => (await page.textContent(selector))?.trim() ?? '';
  if (phase === 'console') {
    await page.goto(`${idp}/admin`);
    seen.signinUrl = page.url();
    await Promise.all([page.waitForNavigation(), page.click('a[data-upstream="idcard"]')]);
    await Promise.all([page.waitForURL(`${idp}/admin`), page.click('button[data-code="39207070221"]')]);
    seen.operator = await text('[data-operator]');
    // An institution by hand.
    await Promise.all([page.waitForNavigation(), page.click('nav a[href="/admin/institutions"]')]);
    await Promise.all([page.waitForNavigation(), page.click('main a[href="/admin/institutions/new"]')]);
    await page.fill('#client_id', 'maja');
    await page.fill('#name', 'Noorte Maja');
    await page.fill('#entry_url', 'https://maja.example.ee');
    await page.fill('#redirect_uris', 'https://maja.example.ee/sso/callback');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/admin/institutions/new"] button[type=submit]')]);
    seen.secretLength = (await text('[data-secret]')).length;
    await page.goto(`${idp}/admin/institutions?q=maja`);
    seen.listed = await page.locator('tr[data-institution="maja"]').count();
    // The enrolment token for the school about to start.
    await Promise.all([page.waitForNavigation(), page.click('nav a[href="/admin/enrolment"]')]);
    await page.fill('#name', 'Uus Kool');
    await page.fill('#client_id', 'uus');
    await page.fill('#public_url', site);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/admin/enrolment"] button[type=submit]')]);
    seen.token = await text('[data-token]');
    seen.command = await text('[data-command]');
  } else {
    await page.goto(`${site}/login`);
    seen.signinUrl = page.url();
    await Promise.all([page.waitForNavigation(), page.click('a[data-upstream="idcard"]')]);
    await Promise.all([page.waitForURL(`${site}/`), page.click('button[data-code="49403136515"]')]);
    seen.final = page.url();
    seen.greeting = await text('main h1');
  }
  await context.close();
} catch (e) {
  seen.failure = String(e);
}
await browser.close();
console.log(JSON.stringify(seen));
