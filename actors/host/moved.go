package host

import (
	"github.com/seshat-host/seshat/actors/routing"
	"github.com/seshat-host/seshat/actors/tenancy"
)

// Names that moved to actors/tenancy and actors/routing, kept here while
// callers move.
type (
	OrgView         = tenancy.OrgView
	OrgMemberView   = tenancy.OrgMemberView
	UserRef         = tenancy.UserRef
	GroupInput      = tenancy.GroupInput
	WorkspaceView   = tenancy.WorkspaceView
	WorkspaceMember = tenancy.WorkspaceMember
	MemberRef       = tenancy.MemberRef
	UserUpdate      = tenancy.UserUpdate

	Providers             = routing.Service
	ProvidersConfig       = routing.Config
	OAuthInput            = routing.OAuthInput
	ProviderSettingInput  = routing.ProviderSettingInput
	ProviderSettingUpdate = routing.ProviderSettingUpdate
	ProviderSettingView   = routing.ProviderSettingView
	ProviderSettingList   = routing.ProviderSettingList
	ListedModel           = routing.ListedModel
	ProviderModelList     = routing.ProviderModelList
	ProviderTestResult    = routing.ProviderTestResult
	OAuthStart            = routing.OAuthStart
)

// Preference keys and caps that moved to actors/tenancy.
const (
	PrefDefaultModel     = tenancy.PrefDefaultModel
	PrefDefaultWorkspace = tenancy.PrefDefaultWorkspace
	MaxPreferencesBytes  = tenancy.MaxPreferencesBytes
)

// SettingIDPrefix is the id prefix of provider settings (see routing).
const SettingIDPrefix = routing.SettingIDPrefix

// NewProviders builds the model routing service (see routing.New).
func NewProviders(cfg ProvidersConfig) (*Providers, error) { return routing.New(cfg) }
