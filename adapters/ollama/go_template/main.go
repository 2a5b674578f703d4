// gotmpl renders prompts with a Go text/template exactly as Ollama's server does, for hubship's
// render-equivalence check.
//
// Input (stdin, JSON):  {"template": "...", "cases": [{"system": "...", "date": "YYYY-MM-DD", "messages": [{"role": "...", "content": "..."}]}]}
// Output (stdout, JSON): {"results": [{"output": "...", "error": "..."}], "parse_error": "...", "capabilities": [...]}
// ("parse_error": Ollama's own refusal; "capabilities": what Ollama reads from the template: tools, insert, thinking)
//
// What it mirrors from Ollama (server/routes.go ChatHandler and template/template.go):
//   - the Modelfile SYSTEM is prepended as a system message when the first message is not one;
//   - Parse (ollama_parse.go): missingkey=zero, the "json", "currentDate" and "yesterdayDate" functions (the
//     dates answer the case's "date", else today, as YYYY-MM-DD), Ollama's walk of the names (which refuses
//     a template call without a pipeline), {{ .Response }} appended to templates that use neither
//     .Messages nor .Response;
//   - Execute: consecutive messages of one role are merged ("\n\n"), .System joins every system
//     message; templates that use .Messages get {System, Messages, Tools, Response: "", ...}, others
//     are run once per user/assistant exchange with .System/.Prompt/.Response (the legacy path).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

type Message struct {
	Role       string       `json:"role"`
	Content    string       `json:"content"`
	Thinking   string       `json:"thinking,omitempty"`
	Images     []any        `json:"images,omitempty"`
	ToolCalls  []ToolCallIn `json:"tool_calls,omitempty"`
	ToolName   string       `json:"tool_name,omitempty"`
	ToolCallID string       `json:"tool_call_id,omitempty"`
}

type Case struct {
	System   string    `json:"system"`
	Date     string    `json:"date,omitempty"`
	Messages []Message `json:"messages"`
	Tools    []ToolIn  `json:"tools,omitempty"`
	Think    *bool     `json:"think,omitempty"`
}

type Input struct {
	Template string `json:"template"`
	Cases    []Case `json:"cases"`
}

type Result struct {
	Output string `json:"output"`
	Error  string `json:"error,omitempty"`
}

type Output struct {
	Results      []Result `json:"results"`
	ParseError   string   `json:"parse_error,omitempty"`
	Capabilities []string `json:"capabilities"`
	Tags         *Tags    `json:"tags,omitempty"`
}

// today is the day currentDate answers while a case renders (Ollama: time.Now()).
var today = time.Now()

var funcs = template.FuncMap{
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"currentDate": func(args ...string) string {
		return today.Format("2006-01-02")
	},
	"yesterdayDate": func(args ...string) string {
		return today.AddDate(0, 0, -1).Format("2006-01-02")
	},
}

var response = parse.ActionNode{
	NodeType: parse.NodeAction,
	Pipe: &parse.PipeNode{
		NodeType: parse.NodePipe,
		Cmds: []*parse.CommandNode{{
			NodeType: parse.NodeCommand,
			Args:     []parse.Node{&parse.FieldNode{NodeType: parse.NodeField, Ident: []string{"Response"}}},
		}},
	},
}

func collate(msgs []Message) (string, []*Message) {
	var system []string
	var collated []*Message
	for i := range msgs {
		if msgs[i].Role == "system" {
			system = append(system, msgs[i].Content)
		}
		if len(collated) > 0 && collated[len(collated)-1].Role == msgs[i].Role && msgs[i].Role != "tool" {
			collated[len(collated)-1].Content += "\n\n" + msgs[i].Content
		} else {
			collated = append(collated, &msgs[i])
		}
	}
	return strings.Join(system, "\n\n"), collated
}

// deleteFrom removes every node from the first .Response field on, as Ollama's legacy path does.
func deleteFrom(n parse.Node, cut *bool) parse.Node {
	if f, ok := n.(*parse.FieldNode); ok {
		for _, id := range f.Ident {
			if id == "Response" {
				*cut = true
				return n
			}
		}
	}
	if *cut {
		return nil
	}
	switch t := n.(type) {
	case *parse.ListNode:
		var nodes []parse.Node
		for _, c := range t.Nodes {
			if k := deleteFrom(c, cut); k != nil {
				nodes = append(nodes, k)
			}
		}
		t.Nodes = nodes
	case *parse.IfNode:
		deleteFrom(&t.BranchNode, cut)
	case *parse.WithNode:
		deleteFrom(&t.BranchNode, cut)
	case *parse.RangeNode:
		deleteFrom(&t.BranchNode, cut)
	case *parse.BranchNode:
		deleteFrom(t.List, cut)
		if t.ElseList != nil {
			deleteFrom(t.ElseList, cut)
		}
	case *parse.ActionNode:
		if deleteFrom(t.Pipe, cut) == nil {
			return nil
		}
	case *parse.PipeNode:
		var cmds []*parse.CommandNode
		for _, c := range t.Cmds {
			var args []parse.Node
			for _, a := range c.Args {
				if k := deleteFrom(a, cut); k != nil {
					args = append(args, k)
				}
			}
			if len(args) == 0 {
				return nil
			}
			c.Args = args
			cmds = append(cmds, c)
		}
		if len(cmds) == 0 {
			return nil
		}
		t.Cmds = cmds
	}
	return n
}

func legacy(t *template.Template, messages []*Message) (string, error) {
	var b bytes.Buffer
	var system, prompt, response string
	execute := func() error {
		err := t.Execute(&b, map[string]any{"System": system, "Prompt": prompt, "Response": response, "Think": false, "IsThinkSet": false})
		system, prompt, response = "", "", ""
		return err
	}
	for _, m := range messages {
		switch m.Role {
		case "system":
			if prompt != "" || response != "" {
				if err := execute(); err != nil {
					return "", err
				}
			}
			system = m.Content
		case "user":
			if response != "" {
				if err := execute(); err != nil {
					return "", err
				}
			}
			prompt = m.Content
		case "assistant":
			response = m.Content
		}
	}
	cut := false
	root := deleteFrom(t.Root.Copy(), &cut).(*parse.ListNode)
	last, err := template.New("").Funcs(funcs).AddParseTree("", &parse.Tree{Root: root})
	if err != nil {
		return "", err
	}
	if err := last.Execute(&b, map[string]any{"System": system, "Prompt": prompt, "Response": response, "Think": false, "IsThinkSet": false}); err != nil {
		return "", err
	}
	return b.String(), nil
}

func render(t *template.Template, c Case) (string, error) {
	today = time.Now()
	if c.Date != "" {
		day, err := time.ParseInLocation("2006-01-02", c.Date, time.Local)
		if err != nil {
			return "", err
		}
		today = day
	}
	msgs := append([]Message{}, c.Messages...)
	if len(msgs) > 0 && msgs[0].Role != "system" && c.System != "" {
		msgs = append([]Message{{Role: "system", Content: c.System}}, msgs...)
	}
	system, messages := collate(msgs)
	if !vars(t)["messages"] {
		return legacy(t, messages)
	}
	var b bytes.Buffer
	err := t.Execute(&b, map[string]any{
		"System": system, "Messages": templateMessages(messages), "Tools": templateToolList(c.Tools), "Response": "",
		"Think": c.Think != nil && *c.Think, "ThinkLevel": "", "IsThinkSet": c.Think != nil,
	})
	return b.String(), err
}

func main() {
	var in Input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "gotmpl: bad input:", err)
		os.Exit(2)
	}
	out := Output{Results: []Result{}, Capabilities: []string{}}
	t, err := ollamaParse(in.Template)
	if err != nil {
		out.ParseError = err.Error()
	} else {
		out.Capabilities = templateCapabilities(t)
		out.Tags = templateTags(t)
		for _, c := range in.Cases {
			text, err := render(t, c)
			r := Result{Output: text}
			if err != nil {
				r.Error = err.Error()
			}
			out.Results = append(out.Results, r)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		os.Exit(1)
	}
}

// Tools, tool calls and thinking: the request's data as Ollama's API decodes it (api.Tool, api.ToolCall), and the
// template-side shapes Ollama's template package hands a TEMPLATE (tools, tool-call arguments and tool parameter
// properties as maps whose String form is encoding/json's: compact, keys sorted, HTML escaped).

type ToolCallIn struct {
	ID       string `json:"id,omitempty"`
	Function struct {
		Index     int            `json:"index,omitempty"`
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"`
	} `json:"function"`
}

type PropertyType []string

func (p *PropertyType) UnmarshalJSON(data []byte) error {
	var one string
	if json.Unmarshal(data, &one) == nil {
		*p = PropertyType{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(data, &many)
	*p = many
	return err
}

func (p PropertyType) MarshalJSON() ([]byte, error) {
	if len(p) == 1 {
		return json.Marshal(p[0])
	}
	return json.Marshal([]string(p))
}

type ToolProperty struct {
	AnyOf       []ToolProperty          `json:"anyOf,omitempty"`
	Type        PropertyType            `json:"type,omitempty"`
	Items       any                     `json:"items,omitempty"`
	Description string                  `json:"description,omitempty"`
	Enum        []any                   `json:"enum,omitempty"`
	Properties  map[string]ToolProperty `json:"properties,omitempty"`
	Required    []string                `json:"required,omitempty"`
}

type ToolIn struct {
	Type     string `json:"type"`
	Items    any    `json:"items,omitempty"`
	Function struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Parameters  struct {
			Type       string                  `json:"type"`
			Defs       any                     `json:"$defs,omitempty"`
			Items      any                     `json:"items,omitempty"`
			Required   []string                `json:"required,omitempty"`
			Properties map[string]ToolProperty `json:"properties"`
		} `json:"parameters"`
	} `json:"function"`
}

type jsonMap map[string]any

func (m jsonMap) String() string {
	if m == nil {
		return "{}"
	}
	b, _ := json.Marshal(map[string]any(m))
	return string(b)
}

type propertyMap map[string]ToolProperty

func (m propertyMap) String() string {
	if m == nil {
		return "{}"
	}
	b, _ := json.Marshal(map[string]ToolProperty(m))
	return string(b)
}

type tmplTool struct {
	Type     string           `json:"type"`
	Items    any              `json:"items,omitempty"`
	Function tmplToolFunction `json:"function"`
}

type tmplToolFunction struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Parameters  tmplToolParams `json:"parameters"`
}

type tmplToolParams struct {
	Type       string      `json:"type"`
	Defs       any         `json:"$defs,omitempty"`
	Items      any         `json:"items,omitempty"`
	Required   []string    `json:"required,omitempty"`
	Properties propertyMap `json:"properties"`
}

func (t tmplTool) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type tmplTools []tmplTool

func (t tmplTools) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type tmplToolCall struct {
	ID       string
	Function struct {
		Index     int
		Name      string
		Arguments jsonMap
	}
}

type tmplMessage struct {
	Role       string
	Content    string
	Thinking   string
	Images     []any
	ToolCalls  []tmplToolCall
	ToolName   string
	ToolCallID string
}

func templateToolList(tools []ToolIn) tmplTools {
	if tools == nil {
		return nil
	}
	out := make(tmplTools, len(tools))
	for i, t := range tools {
		p := t.Function.Parameters
		out[i] = tmplTool{Type: t.Type, Items: t.Items, Function: tmplToolFunction{
			Name: t.Function.Name, Description: t.Function.Description,
			Parameters: tmplToolParams{Type: p.Type, Defs: p.Defs, Items: p.Items, Required: p.Required, Properties: propertyMap(p.Properties)},
		}}
	}
	return out
}

func templateMessages(messages []*Message) []*tmplMessage {
	out := make([]*tmplMessage, len(messages))
	for i, m := range messages {
		var calls []tmplToolCall
		for _, c := range m.ToolCalls {
			var call tmplToolCall
			call.ID, call.Function.Index, call.Function.Name = c.ID, c.Function.Index, c.Function.Name
			call.Function.Arguments = jsonMap(c.Function.Arguments)
			calls = append(calls, call)
		}
		out[i] = &tmplMessage{m.Role, m.Content, m.Thinking, m.Images, calls, m.ToolName, m.ToolCallID}
	}
	return out
}

// Tags are what Ollama reads from a TEMPLATE's parse tree to handle a model's output (written from its documented
// behaviour, tools/template.go parseTag): the tool-call tag, the first non-blank raw text inside the first `if` on
// `.ToolCalls` (searched through if, range and with bodies), cut at "{" and trimmed, "{" when there is none; and the
// thinking tags (thinkingTags, ollama_parse.go).
type Tags struct {
	ToolCall      string `json:"tool_call"`
	ThinkingOpen  string `json:"thinking_open"`
	ThinkingClose string `json:"thinking_close"`
}

// hasField reports whether a command of the pipeline has the field `name` among its arguments.
func hasField(pipe *parse.PipeNode, name string) bool {
	if pipe == nil {
		return false
	}
	for _, c := range pipe.Cmds {
		for _, a := range c.Args {
			if f, ok := a.(*parse.FieldNode); ok {
				for _, id := range f.Ident {
					if id == name {
						return true
					}
				}
			}
		}
	}
	return false
}

func toolCallsIf(nodes []parse.Node) *parse.IfNode {
	for _, n := range nodes {
		var lists []*parse.ListNode
		switch x := n.(type) {
		case *parse.IfNode:
			if hasField(x.Pipe, "ToolCalls") {
				return x
			}
			lists = []*parse.ListNode{x.List, x.ElseList}
		case *parse.RangeNode:
			lists = []*parse.ListNode{x.List, x.ElseList}
		case *parse.WithNode:
			lists = []*parse.ListNode{x.List, x.ElseList}
		case *parse.ListNode:
			lists = []*parse.ListNode{x}
		}
		for _, l := range lists {
			if l != nil {
				if found := toolCallsIf(l.Nodes); found != nil {
					return found
				}
			}
		}
	}
	return nil
}

func firstText(nodes []parse.Node) (string, bool) {
	for _, n := range nodes {
		switch x := n.(type) {
		case *parse.TextNode:
			if len(bytes.TrimSpace(x.Text)) > 0 {
				return string(x.Text), true
			}
		case *parse.ActionNode:
			return "", false
		case *parse.IfNode, *parse.RangeNode, *parse.WithNode:
			var b *parse.BranchNode
			switch y := x.(type) {
			case *parse.IfNode:
				b = &y.BranchNode
			case *parse.RangeNode:
				b = &y.BranchNode
			case *parse.WithNode:
				b = &y.BranchNode
			}
			for _, l := range []*parse.ListNode{b.List, b.ElseList} {
				if l != nil {
					if text, ok := firstText(l.Nodes); ok {
						return text, true
					}
				}
			}
			return "", false
		}
	}
	return "", false
}

func templateTags(t *template.Template) *Tags {
	tags := &Tags{ToolCall: "{"}
	if node := toolCallsIf(t.Tree.Root.Nodes); node != nil {
		if text, ok := firstText(node.List.Nodes); ok {
			tag := strings.TrimSpace(strings.SplitN(strings.ReplaceAll(text, "\r\n", "\n"), "{", 2)[0])
			if tag != "" {
				tags.ToolCall = tag
			}
		}
	}
	tags.ThinkingOpen, tags.ThinkingClose = thinkingTags(t)
	return tags
}
