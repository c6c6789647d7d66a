"""The founding example: a WordPress-style page built at test time from the seed text.

The extracted text must hold every paragraph and heading and none of the tagline, the in-text
"Read more about that here." link, the comment form, its email notice or the newsletter box.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import pytest

from aggregator.extract import extract, extract_from_feed_content, feed_content_is_full_article

SEED_FILE = "discovery-headlines-trump-letter-to-iran.txt"
TAGLINE = "Bizarre Facts & Curiosities"
READ_MORE = "Read more about that here."
LEAVE_A_REPLY = "Leave a Reply"
EMAIL_NOTICE = "Your email address will not be published. Required fields are marked *"
NEWSLETTER_MESSAGES = (
    "You have successfully subscribed to the newsletter",
    "There was an error while trying to send your request. Please try again.",
    "Discovery Headlines will use the information you provide on this form to be in touch "
    "with you and to provide updates and marketing.",
)


def read_seed(corpus: Path) -> tuple[str, list[str]]:
    """(headline, article paragraphs and headings in order) from the seed text."""
    blocks = [b.strip() for b in (corpus / "seed" / SEED_FILE).read_text("utf-8").split("\n\n")]
    blocks = [b for b in blocks if b]
    assert blocks[0] == TAGLINE
    end = blocks.index(LEAVE_A_REPLY)
    return blocks[1], blocks[2:end]


def is_heading(block: str) -> bool:
    """In the seed text, headings are the short lines without closing punctuation."""
    return len(block.split()) <= 16 and not block.endswith((".", "?", "!", "”", '"', ":"))


def seed_wordpress_page(headline: str, blocks: list[str]) -> str:
    """A WordPress-style page: header, nav, article, sidebar, comment form, newsletter, footer."""
    body = []
    for block in blocks:
        if is_heading(block):
            body.append(f"<h2 class='wp-block-heading'>{escape(block)}</h2>")
        elif block.endswith(READ_MORE):
            text = escape(block[: -len(READ_MORE)])
            body.append(
                f"<p>{text}<a href='/2025/03/iran-drones-russia/'>{escape(READ_MORE)}</a></p>"
            )
        else:
            body.append(f"<p>{escape(block)}</p>")
    article_html = "\n".join(body)
    related = "".join(
        f"<li><a href='/2025/0{i}/story-{i}/'>Strange story number {i} you will not believe</a></li>"
        for i in range(1, 6)
    )
    return f"""<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="UTF-8">
<title>{escape(headline)} - Discovery Headlines</title>
<meta property="og:title" content="{escape(headline)}">
<meta property="og:site_name" content="Discovery Headlines">
<meta property="og:image" content="https://discoveryheadlines.com/wp-content/uploads/2025/04/letter.jpg">
<meta property="article:published_time" content="2025-04-02T09:15:00+02:00">
<meta name="author" content="Discovery Staff">
<script>window.dataLayer = [];</script>
</head>
<body class="post-template-default single single-post">
<header id="masthead" class="site-header">
  <div class="site-branding">
    <p class="site-title"><a href="/">Discovery Headlines</a></p>
    <p class="site-description">{escape(TAGLINE)}</p>
  </div>
  <nav id="site-navigation" class="main-navigation"><ul>
    <li><a href="/category/science/">Science</a></li><li><a href="/category/history/">History</a></li>
    <li><a href="/category/world/">World</a></li><li><a href="/about/">About</a></li></ul></nav>
</header>
<div id="content" class="site-content"><div id="primary" class="content-area"><main id="main" class="site-main">
<article id="post-1234" class="post-1234 post type-post status-publish format-standard has-post-thumbnail hentry">
  <header class="entry-header">
    <h1 class="entry-title">{escape(headline)}</h1>
    <div class="entry-meta"><span class="posted-on">April 2, 2025</span> <span class="byline">by
      <a class="url fn n" href="/author/staff/">Discovery Staff</a></span></div>
  </header>
  <div class="post-thumbnail"><img src="/wp-content/uploads/2025/04/letter.jpg" alt="A letter" width="800" height="450"></div>
  <div class="entry-content">
{article_html}
  <div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">Share this:</h3><ul>
    <li><a href="https://twitter.com/share">Share on X (Opens in new window)</a></li>
    <li><a href="https://facebook.com/sharer">Share on Facebook (Opens in new window)</a></li></ul></div>
  </div>
  <footer class="entry-footer"><span class="cat-links">Posted in <a href="/category/world/">World</a></span></footer>
</article>
<nav class="navigation post-navigation"><a href="/prev/">Previous: The lost city under the sea</a></nav>
<div id="comments" class="comments-area">
  <div id="respond" class="comment-respond">
    <h3 id="reply-title" class="comment-reply-title">{escape(LEAVE_A_REPLY)}</h3>
    <form action="/wp-comments-post.php" method="post" id="commentform" class="comment-form">
      <p class="comment-notes"><span id="email-notes">Your email address will not be published.</span>
      <span class="required-field-message">Required fields are marked <span class="required">*</span></span></p>
      <p class="comment-form-comment"><label for="comment">Comment</label><textarea id="comment" name="comment"></textarea></p>
      <p class="form-submit"><input name="submit" type="submit" id="submit" class="submit" value="Post Comment"></p>
    </form>
  </div>
</div>
</main></div>
<aside id="secondary" class="widget-area">
  <section class="widget widget_recent_entries"><h2 class="widget-title">Recent Posts</h2><ul>{related}</ul></section>
  <section class="widget newsletter-widget">
    <h2 class="widget-title">Newsletter</h2>
    <p>Get the strangest stories of the week in your inbox.</p>
    <div class="newsletter-message success">{escape(NEWSLETTER_MESSAGES[0])}</div>
    <div class="newsletter-message error">{escape(NEWSLETTER_MESSAGES[1])}</div>
    <p class="newsletter-consent">{escape(NEWSLETTER_MESSAGES[2])}</p>
  </section>
</aside></div>
<footer id="colophon" class="site-footer"><div class="site-info">© 2025 Discovery Headlines.
  Proudly powered by WordPress. <a href="/privacy-policy/">Privacy Policy</a></div></footer>
</body></html>
"""


PAGE_URLS = (
    # The shipped site rule for the source applies here ...
    "https://discoveryheadlines.com/2025/04/why-iran-said-no-to-the-trump-letter/",
    # ... and the generic extractor must manage the same markup without it.
    "https://blog.example.org/2025/04/why-iran-said-no-to-the-trump-letter/",
)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text))


@pytest.fixture(scope="module")
def seed(shared_corpus: Path) -> tuple[str, list[str]]:
    return read_seed(shared_corpus)


@pytest.mark.parametrize("url", PAGE_URLS)
def test_seed_page_text_is_the_article_and_nothing_else(
    seed: tuple[str, list[str]], url: str
) -> None:
    headline, blocks = seed
    article = extract(seed_wordpress_page(headline, blocks).encode("utf-8"), url)

    paragraphs = article.text.split("\n\n")
    expected = [b.removesuffix(READ_MORE).strip() for b in blocks]
    # Every paragraph and heading, each as its own paragraph, in order.
    assert [_norm(p) for p in paragraphs] == [_norm(b) for b in expected]
    for unwanted in (TAGLINE, READ_MORE, LEAVE_A_REPLY, "Your email address will not be published",
                     "Required fields are marked", *NEWSLETTER_MESSAGES, "Share on Facebook",
                     "Recent Posts", "Proudly powered"):  # fmt: skip
        assert unwanted not in article.text
    assert article.title == headline


def test_seed_page_metadata_and_html(seed: tuple[str, list[str]]) -> None:
    headline, blocks = seed
    article = extract(seed_wordpress_page(headline, blocks), PAGE_URLS[0])
    assert article.author == "Discovery Staff"
    assert (
        article.published is not None
        and article.published.isoformat() == "2025-04-02T07:15:00+00:00"
    )
    assert article.language == "en"
    assert (
        article.lead_image == "https://discoveryheadlines.com/wp-content/uploads/2025/04/letter.jpg"
    )
    headings = [b for b in blocks if is_heading(b)]
    assert re.findall(r"<h2>(.*?)</h2>", article.html) == [escape(h) for h in headings]
    assert "<form" not in article.html and "<script" not in article.html
    assert article.word_count > 900


def _feed_block(block: str) -> str:
    if is_heading(block):
        return f"<h2>{escape(block)}</h2>"
    if block.endswith(READ_MORE):
        text = escape(block.removesuffix(READ_MORE))
        return f"<p>{text}<a href='/2025/03/iran-drones-russia/'>{escape(READ_MORE)}</a></p>"
    return f"<p>{escape(block)}</p>"


def test_seed_feed_full_content_is_recognised_and_extracted(seed: tuple[str, list[str]]) -> None:
    headline, blocks = seed
    page_text = extract(seed_wordpress_page(headline, blocks), PAGE_URLS[0]).text
    # What WordPress puts in content:encoded: the post body, with its in-text link.
    content = "".join(_feed_block(b) for b in blocks)
    assert feed_content_is_full_article(content, page_text)
    from_feed = extract_from_feed_content(content, PAGE_URLS[0], title=headline)
    assert from_feed.extractor == "feed" and from_feed.title == headline
    assert [_norm(p) for p in from_feed.text.split("\n\n")] == [
        _norm(b.removesuffix(READ_MORE)) for b in blocks
    ]
    # The RSS description is an excerpt: "[…]" and WordPress's "appeared first on" footer.
    excerpt = f"<p>{escape(blocks[0])} [&hellip;]</p>"
    assert not feed_content_is_full_article(excerpt, page_text)
    footer = f"{content}<p>The post {escape(headline)} appeared first on Discovery Headlines.</p>"
    assert not feed_content_is_full_article(footer, page_text)
