// Debian's chromium, headless, through playwright-core (which cannot download a browser here), as every browser test
// starts it. `autoplay` lets a page play media without a click.
import { chromium } from 'playwright-core';

export function launchChromium({ autoplay = false } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run',
      ...(autoplay ? ['--autoplay-policy=no-user-gesture-required'] : [])],
  });
}
