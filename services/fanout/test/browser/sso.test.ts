// Single sign-on in a real browser: the dashboard's "Sign in with …", the provider's page
// (oidc-provider on localhost, another site than the fan-out on 127.0.0.1), back to the
// dashboard signed in; a user with no TripWire role refused; sign-out ending both sessions.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JWT_SECRET, useEnvironment } from '../fanout-harness.js';
import { startTestProvider, type TestProvider } from '../oidc-test-provider.js';
import { FanoutProcess, launchChromium, screenshot } from './dashboard-harness.js';

const env = useEnvironment();
let fanout: FanoutProcess;
let provider: TestProvider;
let browser: Browser;

beforeAll(async () => {
  fanout = await FanoutProcess.create(env, JWT_SECRET);
  provider = await startTestProvider(fanout.url);
  await fanout.start(provider.fanoutEnv(fanout.url));
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await fanout?.stop();
  await provider?.stop();
});

/** From the dashboard's sign-in screen through the provider's page, as a person would. */
async function signInWithProvider(page: Page, user: string) {
  await page.goto(fanout.url);
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByRole('button', { name: 'Continue' }).click();
}

describe('single sign-on in the dashboard', () => {
  it('signs an admin in through the provider; sign-out ends the session, here and there', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await page.goto(fanout.url);
    await screenshot(page, 'sso-sign-in-screen');
    await signInWithProvider(page, 'ada');
    await expect.poll(() => page.getByTestId('operator').textContent()).toBe('ada · admin');
    await expect.poll(() => page.getByTestId('connection').getAttribute('data-state')).toBe('live');
    expect(new URL(page.url()).origin).toBe(fanout.url);
    await screenshot(page, 'sso-signed-in-admin');
    // The session is the HttpOnly cookie; nothing of the sign-in is left in the page.
    const cookies = await context.cookies(fanout.url);
    expect(cookies.find((c) => c.name === 'tw_session')).toMatchObject({ httpOnly: true });
    expect(cookies.find((c) => c.name === 'tw_oidc_login')).toBeUndefined();

    await page.getByRole('button', { name: 'Sign out' }).click();
    // The provider's own logout (RP-initiated), then back to the dashboard.
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).waitFor();
    expect(new URL(page.url()).origin).toBe(fanout.url);
    await page.reload();
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).waitFor();
    expect(await page.getByTestId('operator').count()).toBe(0);
    const status = await page.evaluate(() => fetch('/api/session').then((r) => r.status));
    expect(status).toBe(401);
    // The provider's session ended too: signing in again asks who you are.
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
    await page.getByLabel('Username').waitFor();
    await screenshot(page, 'sso-after-sign-out');
    await context.close();
  });

  it('refuses a user whose groups map to no TripWire role, with a clear page', async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    const page = await context.newPage();
    await signInWithProvider(page, 'mallory');
    await page.getByRole('heading', { name: 'Your account has no TripWire role' }).waitFor();
    expect(await page.textContent('main')).toContain('signed you in as mallory');
    await screenshot(page, 'sso-refused-no-role');
    await page.getByRole('link', { name: 'Back to sign-in' }).click();
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).waitFor();
    const status = await page.evaluate(() => fetch('/api/session').then((r) => r.status));
    expect(status).toBe(401);
    await context.close();
  });
});
