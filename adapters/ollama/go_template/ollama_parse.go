// Ollama's parse rules for a TEMPLATE, and the capabilities Ollama reads from it. Written from Ollama's
// source as read at v0.33.0-rc2 (Aug 2026), not copied from it:
//
//   - template/template.go, Parse: text/template's own Parse (missingkey=zero, Ollama's functions), then
//     Vars; a template that uses neither .Messages nor .Response gets {{ .Response }} appended.
//   - template/template.go, Vars and Identifiers: a walk over every template's nodes that collects the
//     field and variable names (lowercased) and fails, since v0.12.4 (ollama PR #12483), on a template
//     call without a pipeline ("undefined template specified", e.g. {{ template "x" }}), an action
//     without one ("undefined action in template") and an if/range/with without one ("undefined
//     branch"). text/template builds the last two only for hand-made trees; the first is ordinary text.
//   - server/create.go, setTemplate: `ollama create` runs Parse and answers a refusal with
//     "template error: <Parse's error>" (HTTP 400 when not streamed; streamed, after "parsing GGUF").
//     Hub pulls (server/images.go, GetModel) run the same Parse on the repo's `template` file.
//   - server/images.go, goTemplateCapabilities: "tools" when the names include "tools", "insert" when
//     they include "suffix", "thinking" when thinking.InferTags (thinking/template.go) finds both tags.
//
// The walk visits only the pipelines' command arguments (not the `$x :=` declarations), like Ollama's.
package main

import (
	"errors"
	"strings"
	"text/template"
	"text/template/parse"
)

// ollamaParse parses src exactly as far as Ollama's template.Parse does, with its error for what it refuses.
func ollamaParse(src string) (*template.Template, error) {
	t, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, err
	}
	names, err := ollamaVars(t)
	if err != nil {
		return nil, err
	}
	if !names["messages"] && !names["response"] {
		t.Tree.Root.Nodes = append(t.Tree.Root.Nodes, &response)
	}
	return t, nil
}

// ollamaVars is the set of lowercased names Ollama's Vars collects from every template in t, or the
// first error its walk meets.
func ollamaVars(t *template.Template) (map[string]bool, error) {
	set := map[string]bool{}
	add := func(name string) { set[strings.ToLower(name)] = true }
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if err := walkNames(tt.Root, add); err != nil {
			return set, err
		}
	}
	return set, nil
}

// vars is ollamaVars for a template ollamaParse accepted (its walk cannot fail any more).
func vars(t *template.Template) map[string]bool {
	set, _ := ollamaVars(t)
	return set
}

func walkNames(n parse.Node, add func(string)) error {
	switch n := n.(type) {
	case *parse.ListNode:
		for _, child := range n.Nodes {
			if err := walkNames(child, add); err != nil {
				return err
			}
		}
	case *parse.TemplateNode:
		if n.Pipe == nil {
			return errors.New("undefined template specified")
		}
		return walkNames(n.Pipe, add)
	case *parse.ActionNode:
		if n.Pipe == nil {
			return errors.New("undefined action in template")
		}
		return walkNames(n.Pipe, add)
	case *parse.IfNode:
		return walkBranch(&n.BranchNode, add)
	case *parse.RangeNode:
		return walkBranch(&n.BranchNode, add)
	case *parse.WithNode:
		return walkBranch(&n.BranchNode, add)
	case *parse.PipeNode:
		for _, cmd := range n.Cmds {
			for _, arg := range cmd.Args {
				if err := walkNames(arg, add); err != nil {
					return err
				}
			}
		}
	case *parse.FieldNode:
		for _, id := range n.Ident {
			add(id)
		}
	case *parse.VariableNode:
		for _, id := range n.Ident {
			add(id)
		}
	}
	return nil
}

func walkBranch(b *parse.BranchNode, add func(string)) error {
	if b.Pipe == nil {
		return errors.New("undefined branch")
	}
	if err := walkNames(b.Pipe, add); err != nil {
		return err
	}
	for _, list := range []*parse.ListNode{b.List, b.ElseList} {
		if list != nil {
			if err := walkNames(list, add); err != nil {
				return err
			}
		}
	}
	return nil
}

// templateCapabilities are the capabilities Ollama reads from a parsed TEMPLATE (server/images.go,
// goTemplateCapabilities), in Ollama's order. The model's own ("completion" for a GGUF without
// pooling_type, vision...) come from the GGUF, not from here.
func templateCapabilities(t *template.Template) []string {
	names := vars(t)
	caps := []string{}
	if names["tools"] {
		caps = append(caps, "tools")
	}
	if names["suffix"] {
		caps = append(caps, "insert")
	}
	if open, close := thinkingTags(t); open != "" && close != "" {
		caps = append(caps, "thinking")
	}
	return caps
}

// thinkingTags restates thinking.InferTags (thinking/template.go): for each field reference whose first
// name is Thinking (`.Thinking`, not `$m.Thinking`) inside a range whose pipeline names the field
// Messages, the closest list around it gives the opening tag (its first node, when text) and the closing
// tag (its last node, when text), spaces trimmed; a later reference overwrites what it finds. Only the
// main template's tree is searched.
func thinkingTags(t *template.Template) (open, close string) {
	var path []parse.Node
	var visit func(n parse.Node)
	visit = func(n parse.Node) {
		if n == nil {
			return
		}
		path = append(path, n)
		defer func() { path = path[:len(path)-1] }()
		if f, ok := n.(*parse.FieldNode); ok && f.Ident[0] == "Thinking" && insideMessagesRange(path) {
			for i := len(path) - 1; i >= 0; i-- {
				if list, ok := path[i].(*parse.ListNode); ok {
					if text, ok := list.Nodes[0].(*parse.TextNode); ok {
						open = strings.TrimSpace(string(text.Text))
					}
					if text, ok := list.Nodes[len(list.Nodes)-1].(*parse.TextNode); ok {
						close = strings.TrimSpace(string(text.Text))
					}
					break
				}
			}
		}
		for _, child := range children(n) {
			visit(child)
		}
	}
	visit(t.Tree.Root)
	return open, close
}

// insideMessagesRange: the innermost range on path iterates over a pipeline naming the field Messages.
func insideMessagesRange(path []parse.Node) bool {
	for i := len(path) - 1; i >= 0; i-- {
		if r, ok := path[i].(*parse.RangeNode); ok {
			found := false
			var look func(n parse.Node)
			look = func(n parse.Node) {
				if f, ok := n.(*parse.FieldNode); ok && f.Ident[0] == "Messages" {
					found = true
				}
				for _, child := range children(n) {
					look(child)
				}
			}
			look(r.Pipe)
			return found
		}
	}
	return false
}

// children: the nodes InferTags descends into from n, in its order (pipelines before bodies).
func children(n parse.Node) []parse.Node {
	var out []parse.Node
	switch n := n.(type) {
	case *parse.ListNode:
		out = append(out, n.Nodes...)
	case *parse.IfNode:
		return children(&n.BranchNode)
	case *parse.RangeNode:
		return children(&n.BranchNode)
	case *parse.WithNode:
		return children(&n.BranchNode)
	case *parse.BranchNode:
		if n.Pipe != nil {
			out = append(out, n.Pipe)
		}
		if n.List != nil {
			out = append(out, n.List)
		}
		if n.ElseList != nil {
			out = append(out, n.ElseList)
		}
	case *parse.ActionNode:
		if n.Pipe != nil {
			out = append(out, n.Pipe)
		}
	case *parse.TemplateNode:
		if n.Pipe != nil {
			out = append(out, n.Pipe)
		}
	case *parse.PipeNode:
		for _, cmd := range n.Cmds {
			out = append(out, cmd)
		}
	case *parse.CommandNode:
		out = append(out, n.Args...)
	}
	return out
}
