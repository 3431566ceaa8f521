// A viewer of a Vimeo embed, in headless Chromium: a page on the relay's own origin (embed-page.mjs) loads
// relay-beacon.js from the relay, the Vimeo adapter from player/relay-vimeo.js and, in place of Vimeo's player.js, the
// page-local stand-in vimeo-standin.js. The viewer plays, seeks back while playing and plays to the end, and leaves.
// Prints the session id and what the stand-in played as JSON on stdout.
//
//   node play-vimeo.mjs <relay base URL> <portal id> <the portal's publishable key>
import { launchChromium } from './chromium.mjs';
import { leave, openEmbedPage, utkCookie } from './embed-page.mjs';

const [baseUrl, portalId, key] = process.argv.slice(2);
if (!baseUrl || !portalId || !key) {
  console.error('usage: node play-vimeo.mjs <relay base URL> <portal id> <the portal\'s publishable key>');
  process.exit(2);
}

const html = `<!doctype html><html><head><title>Vimeo embed</title></head><body>
<div id="player"></div>
<script src="/demo/relay-beacon.js"></script>
<script src="/standin/relay-vimeo.js"></script>
<script src="/standin/vimeo-standin.js"></script>
<script>
  ${utkCookie}
  window.vimeoPlayer = new Vimeo.Player('player', { id: 76979871, standInDuration: 8 });
  window.relayTracker = FunctionsRelay.trackVimeo(window.vimeoPlayer, {
    endpoint: '/api/beacons', portalId: ${Number(portalId)}, key: ${JSON.stringify(key)}, heartbeatSeconds: 1,
    media: { name: 'Vimeo E2E' }
  });
  window.ended = false;
  window.vimeoPlayer.on('ended', () => { window.ended = true; });
</script></body></html>`;

const browser = await launchChromium({ autoplay: true });
try {
  const opened = await openEmbedPage(browser, baseUrl, html, { 'relay-vimeo.js': 'player', 'vimeo-standin.js': 'test' });
  const { page, errors } = opened;
  const waitFor = at => page.waitForFunction(at => window.vimeoPlayer._now() >= at, at, { polling: 20 });

  // Not a Vimeo player, and one whose methods throw: nothing is thrown into the page.
  await page.evaluate(() => {
    FunctionsRelay.trackVimeo(null);
    FunctionsRelay.trackVimeo({ on() { throw new Error('broken'); }, off() {} });
  });
  await page.evaluate(() => window.vimeoPlayer.play());
  await waitFor(5);
  await page.evaluate(() => window.vimeoPlayer.setCurrentTime(2));
  await page.waitForFunction(() => window.ended, null, { timeout: 30000, polling: 50 });
  const played = await page.evaluate(() => ({ sessionId: window.relayTracker.sessionId, passes: window.standInPlayed.slice() }));

  // Another video loaded in the same player: a new session, of that video, played 1.2 s.
  await page.evaluate(() => window.vimeoPlayer.loadVideo(22439234).then(() => window.vimeoPlayer.play()));
  await waitFor(1.2);
  const secondSessionId = await page.evaluate(() => window.relayTracker.sessionId);

  await leave(opened);
  console.log(JSON.stringify({ ...played, secondSessionId, errors }));
} finally {
  await browser.close();
}
