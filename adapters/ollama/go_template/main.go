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
	Role      string `json:"role"`
	Content   string `json:"content"`
	Thinking  string `json:"thinking,omitempty"`
	Images    []any  `json:"images,omitempty"`
	ToolCalls []any  `json:"tool_calls,omitempty"`
	ToolName  string `json:"tool_name,omitempty"`
}

type Case struct {
	System   string    `json:"system"`
	Date     string    `json:"date,omitempty"`
	Messages []Message `json:"messages"`
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
		"System": system, "Messages": messages, "Tools": nil, "Response": "",
		"Think": false, "IsThinkSet": false, "Query": "", "Document": "", "Instruction": "",
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
