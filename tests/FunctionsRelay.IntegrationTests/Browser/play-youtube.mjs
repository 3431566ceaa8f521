// A viewer of a YouTube embed, in headless Chromium: a page on the relay's own origin (served by this script through
// Playwright's routing, so no network is needed) loads relay-beacon.js from the relay, the YouTube adapter from
// player/relay-youtube.js and, in place of YouTube's iframe_api, the page-local stand-in youtube-standin.js. The
// viewer plays, pauses, seeks back while paused and plays to the end; then the page destroys the player and makes a
// new one, which plays 2.5 s and pauses, and the viewer leaves. Prints both session ids and what the stand-in played in
// the first as JSON on stdout.
//
//   node play-youtube.mjs <relay base URL> <portal id> <the portal's publishable key>
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const [baseUrl, portalId, key] = process.argv.slice(2);
if (!baseUrl || !portalId || !key) {
  console.error('usage: node play-youtube.mjs <relay base URL> <portal id> <the portal\'s publishable key>');
  process.exit(2);
}

const here = dirname(fileURLToPath(import.meta.url));
const repository = join(here, '..', '..', '..');
const files = {
  '/standin/relay-youtube.js': readFileSync(join(repository, 'player', 'relay-youtube.js'), 'utf8'),
  '/standin/youtube-standin.js': readFileSync(join(here, 'youtube-standin.js'), 'utf8'),
};
const page = `<!doctype html><html><head><title>YouTube embed</title></head><body>
<div id="player"></div>
<script src="/demo/relay-beacon.js"></script>
<script src="/standin/relay-youtube.js"></script>
<script src="/standin/youtube-standin.js"></script>
<script>
  // HubSpot's tracking code sets hubspotutk on a customer's page; this one makes one up, as the demo page does.
  document.cookie = 'hubspotutk=' + Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, '0')).join('') + '; path=/; SameSite=Lax';
  window.ytPlayer = new YT.Player('player', {
    videoId: 'yt-e2e',
    standInDuration: 8,
    events: {
      onReady: function (event) {
        window.trackOptions = {
          endpoint: '/api/beacons', portalId: ${Number(portalId)}, key: ${JSON.stringify(key)}, heartbeatSeconds: 1,
          media: { name: 'YouTube E2E' }
        };
        window.relayTracker = FunctionsRelay.trackYouTube(event.target, window.trackOptions);
      }
    }
  });
</script></body></html>`;

const browser = await launchChromium({ autoplay: true });
try {
  const context = await browser.newContext();
  await context.route(`${baseUrl}/standin/**`, route => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/standin/youtube.html') return route.fulfill({ contentType: 'text/html', body: page });
    if (files[path]) return route.fulfill({ contentType: 'text/javascript', body: files[path] });
    return route.fulfill({ status: 404, body: 'not here' });
  });
  const tab = await context.newPage();
  const errors = [];
  tab.on('console', message => console.error(`[page] ${message.type()}: ${message.text()}`));
  tab.on('pageerror', error => { errors.push(error.message); console.error(`[page] error: ${error.message}`); });

  await tab.goto(`${baseUrl}/standin/youtube.html`);
  await tab.waitForFunction(() => window.relayTracker);
  const position = () => tab.evaluate(() => window.ytPlayer.getCurrentTime());
  const waitFor = at => tab.waitForFunction(at => window.ytPlayer.getCurrentTime() >= at, at, { polling: 20 });

  await tab.evaluate(() => window.ytPlayer.playVideo());
  await waitFor(5);
  await tab.evaluate(() => window.ytPlayer.pauseVideo());
  await tab.waitForTimeout(700);
  await tab.evaluate(() => window.ytPlayer.seekTo(2, true));
  await tab.evaluate(() => window.ytPlayer.playVideo());
  await tab.waitForFunction(() => window.ytPlayer.getPlayerState() === 0, null, { timeout: 30000, polling: 50 });
  const played = await tab.evaluate(() => ({ sessionId: window.relayTracker.sessionId, passes: window.standInPlayed.slice() }));
  const finalPosition = await position();

  // What a page may do wrong, or do to the player, never throws into it: a tracker of nothing, of a broken player,
  // and a player destroyed under its tracker (which ends that session) and made again (a new session).
  await tab.evaluate(() => {
    FunctionsRelay.trackYouTube(null);
    FunctionsRelay.trackYouTube({ addEventListener() { throw new Error('broken'); }, getCurrentTime() { throw new Error('broken'); } });
    window.ytPlayer.destroy();
    window.relayTracker.flush();
    const again = document.createElement('div');
    again.id = 'player';
    document.body.appendChild(again);
    window.ytPlayer = new YT.Player('player', {
      videoId: 'yt-e2e', standInDuration: 8,
      events: { onReady: event => { window.secondTracker = FunctionsRelay.trackYouTube(event.target, window.trackOptions); event.target.playVideo(); } }
    });
  });
  await tab.waitForFunction(() => window.secondTracker && window.ytPlayer.getCurrentTime() >= 2.5, null, { polling: 20 });
  await tab.evaluate(() => window.ytPlayer.pauseVideo());
  const secondSessionId = await tab.evaluate(() => window.secondTracker.sessionId);

  // Leaving the page ends the session: the tracker sends `end` on pagehide.
  await tab.goto('about:blank');
  // sendBeacon hands the request to the browser, which sends it after the page is gone: give it the time.
  await tab.waitForTimeout(1500);
  await context.close();
  console.log(JSON.stringify({ ...played, finalPosition, secondSessionId, errors }));
} finally {
  await browser.close();
}
