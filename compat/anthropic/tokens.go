package anthropic

// imageTokens is what one image counts for in an estimate: about what
// Anthropic bills for an image near its size limit (width × height / 750
// for 1.15 megapixels). Counting the base64 payload would be far off.
const imageTokens = 1600

// EstimateTokens estimates the input tokens of r for count_tokens: about
// one token per four bytes of the system prompt, of the tools (name,
// description and schema) and of each message, rounded up, with at least
// one token per message, and imageTokens per image. Bytes rather than
// characters keep non-Latin text from being grossly undercounted. The
// result is never below 1.
func EstimateTokens(r MessagesRequest) int64 {
	n := ceilQuarter(contentBytes(r.System))
	for _, t := range r.Tools {
		n += ceilQuarter(int64(len(t.Type) + len(t.Name) + len(t.Description) + len(t.InputSchema)))
	}
	for _, m := range r.Messages {
		var bytes, images int64
		for _, b := range m.Content {
			if b.Type == BlockImage {
				images++
				continue
			}
			bytes += blockBytes(b)
		}
		n += max(ceilQuarter(bytes), 1) + images*imageTokens
	}
	return max(n, 1)
}

func ceilQuarter(n int64) int64 { return (n + 3) / 4 }

func contentBytes(c Content) int64 {
	var n int64
	for _, b := range c {
		n += blockBytes(b)
	}
	return n
}

func blockBytes(b ContentBlock) int64 {
	switch b.Type {
	case BlockText:
		return int64(len(b.Text))
	case BlockToolUse:
		return int64(len(b.Name) + len(b.Input))
	case BlockToolResult:
		var n int64
		for _, c := range b.Content {
			if c.Type == BlockImage {
				n += 4 * imageTokens
				continue
			}
			n += blockBytes(c)
		}
		return n
	case BlockThinking:
		return int64(len(b.Thinking))
	case BlockRedactedThinking:
		return int64(len(b.Data))
	}
	return int64(len(b.Raw))
}
