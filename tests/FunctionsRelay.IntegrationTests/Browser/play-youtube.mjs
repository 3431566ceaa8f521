// A viewer of a YouTube embed, in headless Chromium: a page on the relay's own origin (embed-page.mjs) loads
// relay-beacon.js from the relay, the YouTube adapter from player/relay-youtube.js and, in place of YouTube's
// iframe_api, the page-local stand-in youtube-standin.js. The viewer plays, pauses, seeks back while paused and plays to the end; then the page destroys the player and makes a
// new one, which plays 2.5 s and pauses, then loads another video, which plays 1.2 s, and the viewer leaves. Prints both session ids and what the stand-in played in
// the first as JSON on stdout.
//
//   node play-youtube.mjs <relay base URL> <portal id> <the portal's publishable key>
import { launchChromium } from './chromium.mjs';
import { leave, openEmbedPage, utkCookie } from './embed-page.mjs';

const [baseUrl, portalId, key] = process.argv.slice(2);
if (!baseUrl || !portalId || !key) {
  console.error('usage: node play-youtube.mjs <relay base URL> <portal id> <the portal\'s publishable key>');
  process.exit(2);
}

const html = `<!doctype html><html><head><title>YouTube embed</title></head><body>
<div id="player"></div>
<script src="/demo/relay-beacon.js"></script>
<script src="/standin/relay-youtube.js"></script>
<script src="/standin/youtube-standin.js"></script>
<script>
  ${utkCookie}
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
  const opened = await openEmbedPage(browser, baseUrl, html, { 'relay-youtube.js': 'player', 'youtube-standin.js': 'test' });
  const { page: tab, errors } = opened;
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
  // Another video loaded in the same player: a third session, of that video.
  await tab.evaluate(() => window.ytPlayer.loadVideoById('yt-e2e-2'));
  await tab.waitForFunction(() => window.ytPlayer.getVideoUrl().endsWith('yt-e2e-2') && window.ytPlayer.getCurrentTime() >= 1.2, null, { polling: 20 });
  await tab.evaluate(() => window.ytPlayer.pauseVideo());
  const thirdSessionId = await tab.evaluate(() => window.secondTracker.sessionId);

  await leave(opened);
  console.log(JSON.stringify({ ...played, finalPosition, secondSessionId, thirdSessionId, errors }));
} finally {
  await browser.close();
}
