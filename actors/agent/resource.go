package agent

import "strings"

// resourceTypes name the resource families by id prefix, as the audit log
// records them.
var resourceTypes = map[string]string{
	PrefixUser: "user", PrefixWorkspace: "workspace", PrefixSession: "session",
	PrefixFile: "file", PrefixJob: "job", PrefixKey: "api_key", PrefixOrg: "organization",
	PrefixGroup: "group", PrefixPerm: "permission_request", PrefixPrompt: "prompt_request",
	PrefixRun: "job_run", "pset": "provider_setting", PrefixMemory: "memory",
	"corp": "corpus", "ing": "ingestion_job", "agent": "agent", PrefixPlan: "plan",
	PrefixSkill: "skill", PrefixSkillRepo: "skill_repository", PrefixMCP: "mcp_server",
}

// ResourceType returns the resource family of an id ("" for an id of no
// known family).
func ResourceType(id string) string {
	prefix, _, ok := strings.Cut(id, "_")
	if !ok {
		return ""
	}
	return resourceTypes[prefix]
}
