// Every method's handler, by method. Adding a method to the protocol without a handler here
// fails to compile.

import { Method } from "../../proto/codes.ts";
import type { CommandTable } from "./command.ts";
import { convGet, convList, directOpen, groupAdd, groupCreate, groupRemove, groupRename, groupSetAdmin } from "./conversations.ts";
import { deviceList, deviceRevoke } from "./devices.ts";
import { keyPackageClaim, keyPackageCount, keyPackageUpload, mlsCommit, mlsGroup } from "./e2ee.ts";
import {
  invitationAccept,
  invitationDecline,
  invitationList,
  joinRequestAnswer,
  joinRequestList,
  linkCreate,
  linkJoin,
  linkList,
  linkRevoke,
} from "./invitations.ts";
import { deleteMessage, hide, settingsList, settingsSet, timerSet } from "./lifecycle.ts";
import { mediaUpload, mediaUrl } from "./media.ts";
import { history, receipt, send, typing } from "./messaging.ts";
import { presenceSubscribe } from "./presence.ts";
import { pushRegister, pushSubscribe, pushUnsubscribe } from "./push.ts";
import { block, blockList, contactAdd, contactList, contactRemove, privacyGet, privacySet, report, unblock } from "./safety.ts";
import { connect, ping, sync } from "./session.ts";

export const COMMANDS: CommandTable = {
  [Method.Connect]: connect,
  [Method.Ping]: ping,
  [Method.Sync]: sync,
  [Method.Send]: send,
  [Method.Receipt]: receipt,
  [Method.Typing]: typing,
  [Method.History]: history,
  [Method.PresenceSubscribe]: presenceSubscribe,
  [Method.ConvList]: convList,
  [Method.ConvGet]: convGet,
  [Method.DirectOpen]: directOpen,
  [Method.GroupCreate]: groupCreate,
  [Method.GroupRename]: groupRename,
  [Method.GroupAdd]: groupAdd,
  [Method.GroupRemove]: groupRemove,
  [Method.GroupSetAdmin]: groupSetAdmin,
  [Method.DeviceList]: deviceList,
  [Method.DeviceRevoke]: deviceRevoke,
  [Method.MediaUpload]: mediaUpload,
  [Method.MediaUrl]: mediaUrl,
  [Method.PushSubscribe]: pushSubscribe,
  [Method.PushUnsubscribe]: pushUnsubscribe,
  [Method.PushRegister]: pushRegister,
  [Method.Block]: block,
  [Method.Unblock]: unblock,
  [Method.BlockList]: blockList,
  [Method.PrivacyGet]: privacyGet,
  [Method.PrivacySet]: privacySet,
  [Method.ContactList]: contactList,
  [Method.ContactAdd]: contactAdd,
  [Method.ContactRemove]: contactRemove,
  [Method.InvitationList]: invitationList,
  [Method.InvitationAccept]: invitationAccept,
  [Method.InvitationDecline]: invitationDecline,
  [Method.LinkCreate]: linkCreate,
  [Method.LinkList]: linkList,
  [Method.LinkRevoke]: linkRevoke,
  [Method.LinkJoin]: linkJoin,
  [Method.JoinRequestList]: joinRequestList,
  [Method.JoinRequestAnswer]: joinRequestAnswer,
  [Method.Report]: report,
  [Method.Delete]: deleteMessage,
  [Method.Hide]: hide,
  [Method.TimerSet]: timerSet,
  [Method.SettingsSet]: settingsSet,
  [Method.SettingsList]: settingsList,
  [Method.KeyPackageUpload]: keyPackageUpload,
  [Method.KeyPackageCount]: keyPackageCount,
  [Method.KeyPackageClaim]: keyPackageClaim,
  [Method.MlsCommit]: mlsCommit,
  [Method.MlsGroup]: mlsGroup,
};
